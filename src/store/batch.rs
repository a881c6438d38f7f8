//! Statements written once and sent the way each backend does best. With sqlx every SQLite
//! statement is a round trip to the connection's worker thread (a hand-off and a wake-up each
//! way); under load those switches were most of the service's CPU. A [`Batch`] therefore goes
//! to SQLite as one multi-statement call, its parameters numbered through (sqlx binds `$n` of
//! every statement from the one argument list), and to PostgreSQL, which prepares one
//! statement at a time, statement by statement. Either way it runs inside the caller's
//! transaction, in order, and stops at the first error.

use sqlx::AnyConnection;

/// One bound value.
#[derive(Debug, Clone)]
pub(super) enum Param {
    /// Text or NULL.
    Text(Option<String>),
    /// Integer or NULL.
    Int(Option<i64>),
    /// A real number.
    Real(f64),
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(Some(v.to_string()))
    }
}

impl From<&String> for Param {
    fn from(v: &String) -> Self {
        Param::Text(Some(v.clone()))
    }
}

impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Self {
        Param::Text(v.map(String::from))
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}

impl From<f64> for Param {
    fn from(v: f64) -> Self {
        Param::Real(v)
    }
}

/// `params![a, b, …]`: the values of one statement's `$1, $2, …`.
macro_rules! params {
    ($($v:expr),* $(,)?) => { vec![$($crate::store::batch::Param::from($v)),*] };
}
pub(super) use params;

/// One statement: SQL with `$1…$n` and its values.
#[derive(Debug, Clone)]
pub(super) struct Statement {
    pub(super) sql: &'static str,
    pub(super) params: Vec<Param>,
}

/// Statements to run in order in the caller's transaction.
#[derive(Debug, Default)]
pub(super) struct Batch {
    statements: Vec<Statement>,
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    params: Vec<Param>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for p in params {
        q = match p {
            Param::Text(v) => q.bind(v),
            Param::Int(v) => q.bind(v),
            Param::Real(v) => q.bind(v),
        };
    }
    q
}

/// `sql` with every `$n` moved up by `offset`.
fn renumbered(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

impl Batch {
    /// Adds a statement.
    pub(super) fn push(&mut self, statement: Statement) {
        self.statements.push(statement);
    }

    /// Runs the statements in order; the first error stops them (the caller's transaction or
    /// savepoint then rolls back).
    pub(super) async fn execute(self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        if self.statements.len() > 1 && conn.backend_name().eq_ignore_ascii_case("sqlite") {
            let (mut sql, mut params) = (String::new(), Vec::new());
            for s in self.statements {
                sql.push_str(&renumbered(s.sql, params.len()));
                sql.push_str(";\n");
                params.extend(s.params);
            }
            bind(sqlx::query(sqlx::AssertSqlSafe(sql)), params).execute(&mut *conn).await?;
            return Ok(());
        }
        for s in self.statements {
            bind(sqlx::query(s.sql), s.params).execute(&mut *conn).await?;
        }
        Ok(())
    }
}

impl Statement {
    /// Runs this one statement.
    pub(super) async fn execute(self, conn: &mut AnyConnection) -> Result<u64, sqlx::Error> {
        Ok(bind(sqlx::query(self.sql), self.params).execute(&mut *conn).await?.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::renumbered;

    #[test]
    fn parameters_move_up_and_nothing_else_changes() {
        assert_eq!(
            renumbered("INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO UPDATE SET b = $2", 3),
            "INSERT INTO t (a, b) VALUES ($4, $5) ON CONFLICT DO UPDATE SET b = $5"
        );
        assert_eq!(renumbered("SELECT json_extract(x, '$.seq'), $10", 0), "SELECT json_extract(x, '$.seq'), $10");
        assert_eq!(renumbered("$9$10", 1), "$10$11");
    }
}
