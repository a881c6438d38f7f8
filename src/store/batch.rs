//! Statements written once and sent the way each backend does best. With sqlx every SQLite
//! statement is a round trip to the connection's worker thread (a hand-off and a wake-up each
//! way); under load those switches were most of the service's CPU. A [`Batch`] therefore goes
//! to SQLite as one multi-statement call, its parameters numbered through (sqlx binds `$n` of
//! every statement from the one argument list), inside the caller's transaction, in order,
//! stopping at the first error.
//!
//! PostgreSQL prepares one statement at a time, and each is a round trip to another process
//! on the same cores. There a batch can follow the insert of a conversation's messages as one
//! statement of data-modifying `WITH` clauses ([`Batch::execute_after_messages`]): the
//! messages' sequence numbers, which later statements store, come from the insert's
//! `RETURNING` in the same statement ([`Param::SeqOf`], [`Param::MessageJson`]), and a single
//! statement is its own transaction. PostgreSQL runs the clauses of such a statement in no
//! promised order and does not let two of them change one row, so statements with the same
//! SQL are merged into one multi-row `INSERT` (rows keep the batch's order, and with it the
//! order of their sequence numbers: events stay in order) and a batch never changes a row
//! twice.

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
    /// PostgreSQL only: the sequence number the same statement gives the message of this
    /// role (`customer` or `bot`).
    SeqOf(&'static str),
    /// PostgreSQL only: a message's JSON, serialised with [`SEQ_PLACEHOLDER`] as its `seq`,
    /// stored with the sequence number the same statement gives the message of this role.
    MessageJson(String, &'static str),
}

/// The `seq` a message's JSON carries until the statement that stores it knows the real one.
/// In JSON text `"seq":-1` can only be that key: a quote inside a string is escaped.
pub(super) const SEQ_PLACEHOLDER: i64 = -1;

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

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds values in order. A sequence reference is not a value: only PostgreSQL's one-statement
/// form places it (as SQL), so meeting one here is a bug of the caller.
fn bind(mut q: AnyQuery<'_>, params: Vec<Param>) -> Result<AnyQuery<'_>, sqlx::Error> {
    for p in params {
        q = match p {
            Param::Text(v) => q.bind(v),
            Param::Int(v) => q.bind(v),
            Param::Real(v) => q.bind(v),
            Param::MessageJson(v, _) => q.bind(v),
            Param::SeqOf(role) => {
                return Err(sqlx::Error::Protocol(format!(
                    "the {role} message's sequence number is only known inside one PostgreSQL statement"
                )));
            }
        };
    }
    Ok(q)
}

/// `sql` with every `$n` replaced by `to(n)`.
fn rendered(sql: &str, to: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&to(n)),
            Err(_) => {
                out.push('$');
                out.push_str(&digits);
            }
        }
    }
    out
}

/// `sql` with every `$n` moved up by `offset`.
fn renumbered(sql: &str, offset: usize) -> String {
    rendered(sql, |n| format!("${}", n + offset))
}

/// The SQL of the sequence number the statement's `m` clause gave the message of `role`.
fn seq_of(role: &'static str) -> String {
    debug_assert!(role.chars().all(|c| c.is_ascii_lowercase()), "roles are fixed words, never input");
    format!("(SELECT seq FROM m WHERE role = '{role}')")
}

/// One statement's SQL for the one-statement form: its `$n` renumbered into the shared
/// argument list `args`, sequence references written as SQL.
fn placed(statement: Statement, args: &mut Vec<Param>) -> String {
    let mut to: Vec<String> = Vec::with_capacity(statement.params.len());
    for p in statement.params {
        to.push(match p {
            Param::SeqOf(role) => seq_of(role),
            Param::MessageJson(json, role) => {
                args.push(Param::Text(Some(json)));
                format!("replace(${}, '\"seq\":{SEQ_PLACEHOLDER}', '\"seq\":' || {})", args.len(), seq_of(role))
            }
            value => {
                args.push(value);
                format!("${}", args.len())
            }
        });
    }
    rendered(statement.sql, |n| to.get(n.wrapping_sub(1)).cloned().unwrap_or_else(|| format!("${n}")))
}

/// The row part of `INSERT … VALUES (…)`, when a statement is exactly that (and so can take
/// more rows).
fn values_row(sql: &str) -> Option<usize> {
    let row = sql.strip_prefix("INSERT INTO ").and(sql.rfind(" VALUES ("))? + " VALUES ".len();
    // The row's parenthesis closes at the very end: no clause follows it.
    let mut depth = 0usize;
    for (i, c) in sql[row..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            return (row + i + 1 == sql.len()).then_some(row);
        }
    }
    None
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
            bind(sqlx::query(sqlx::AssertSqlSafe(sql)), params)?.execute(&mut *conn).await?;
            return Ok(());
        }
        for s in self.statements {
            bind(sqlx::query(s.sql), s.params)?.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// PostgreSQL: `messages`, an `INSERT INTO messages … RETURNING seq, role`, then the
    /// batch, as one statement; returns the inserted messages' `(seq, role)`. On its own
    /// connection the statement is its own transaction; an error stores nothing.
    pub(super) async fn execute_after_messages(
        self,
        messages: Statement,
        conn: &mut AnyConnection,
    ) -> Result<Vec<(i64, String)>, sqlx::Error> {
        let (sql, args) = self.one_statement(messages);
        seqs(bind(sqlx::query(sqlx::AssertSqlSafe(sql)), args)?.fetch_all(&mut *conn).await?)
    }

    /// The SQL and arguments of [`Batch::execute_after_messages`].
    fn one_statement(self, messages: Statement) -> (String, Vec<Param>) {
        let mut args = Vec::new();
        let mut clauses: Vec<(&'static str, String)> = vec![("", placed(messages, &mut args))];
        for statement in self.statements {
            let sql = statement.sql;
            let merged = values_row(sql).and_then(|row| clauses.iter().position(|(s, _)| *s == sql).map(|i| (i, row)));
            let text = placed(statement, &mut args);
            match merged {
                // The rendered row starts where the template's does: the text before it is
                // the same SQL, and parameters only occur after it.
                Some((i, row)) => {
                    clauses[i].1.push_str(", ");
                    clauses[i].1.push_str(&text[row..]);
                }
                None => clauses.push((sql, text)),
            }
        }
        let mut sql = String::from("WITH ");
        for (i, (_, text)) in clauses.iter().enumerate() {
            if i == 0 {
                sql.push_str(&format!("m AS ({text})"));
            } else {
                sql.push_str(&format!(", s{i} AS ({text})"));
            }
        }
        sql.push_str(" SELECT seq, role FROM m ORDER BY seq");
        (sql, args)
    }
}

fn seqs(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<(i64, String)>, sqlx::Error> {
    use sqlx::Row;
    rows.iter().map(|r| Ok((r.try_get("seq")?, r.try_get("role")?))).collect()
}

impl Statement {
    /// Runs this one statement, an `INSERT INTO messages … RETURNING seq, role`; returns the
    /// inserted messages' `(seq, role)`.
    pub(super) async fn fetch_seqs(self, conn: &mut AnyConnection) -> Result<Vec<(i64, String)>, sqlx::Error> {
        seqs(bind(sqlx::query(self.sql), self.params)?.fetch_all(&mut *conn).await?)
    }

    /// Runs this one statement.
    pub(super) async fn execute(self, conn: &mut AnyConnection) -> Result<u64, sqlx::Error> {
        Ok(bind(sqlx::query(self.sql), self.params)?.execute(&mut *conn).await?.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::{Batch, Param, Statement, renumbered, values_row};

    #[test]
    fn after_the_messages_one_statement_merges_rows_and_places_sequence_numbers() {
        let event = |payload: Param| Statement { sql: "INSERT INTO e (k, p) VALUES ($1, $2)", params: vec!["message".into(), payload] };
        let mut batch = Batch::default();
        batch.push(event(Param::MessageJson("{\"seq\":-1}".into(), "customer")));
        batch.push(Statement { sql: "INSERT INTO d (seq, x) VALUES ($1, $2)", params: vec![Param::SeqOf("customer"), "a".into()] });
        batch.push(Statement { sql: "UPDATE t SET a = $1 WHERE id = $2 AND b = $1", params: vec!["v".into(), "t-1".into()] });
        batch.push(event(Param::MessageJson("{\"seq\":-1}".into(), "bot")));
        let messages =
            Statement { sql: "INSERT INTO messages (id) VALUES ($1), ($2) RETURNING seq, role", params: vec!["c".into(), "b".into()] };
        let (sql, args) = batch.one_statement(messages);
        let customer = "(SELECT seq FROM m WHERE role = 'customer')";
        let bot = "(SELECT seq FROM m WHERE role = 'bot')";
        assert_eq!(
            sql,
            format!(
                "WITH m AS (INSERT INTO messages (id) VALUES ($1), ($2) RETURNING seq, role), \
                 s1 AS (INSERT INTO e (k, p) VALUES ($3, replace($4, '\"seq\":-1', '\"seq\":' || {customer})), ($8, replace($9, '\"seq\":-1', '\"seq\":' || {bot}))), \
                 s2 AS (INSERT INTO d (seq, x) VALUES ({customer}, $5)), \
                 s3 AS (UPDATE t SET a = $6 WHERE id = $7 AND b = $6) \
                 SELECT seq, role FROM m ORDER BY seq"
            )
        );
        assert_eq!(args.len(), 9);
    }

    #[test]
    fn only_a_bare_values_insert_takes_more_rows() {
        assert!(values_row("INSERT INTO e (a, b) VALUES ($1, $2)").is_some());
        assert!(values_row("INSERT INTO e (a) VALUES ($1) ON CONFLICT (a) DO NOTHING").is_none());
        assert!(values_row("INSERT INTO e (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET b = coalesce($1)").is_none());
        assert!(values_row("UPDATE e SET a = $1 WHERE b IN ($2)").is_none());
    }

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
