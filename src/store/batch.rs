//! Statements written once and sent the way each backend does best. With sqlx every SQLite
//! statement is a round trip to the connection's worker thread (a hand-off and a wake-up each
//! way); under load those switches were most of the service's CPU. A [`Batch`] therefore goes
//! to SQLite as one multi-statement call, its parameters numbered through (sqlx binds `$n` of
//! every statement from the one argument list), in order, inside a savepoint of its own: the
//! first error stops it and undoes what ran before ([`Batch::execute_all_or_nothing`]).
//!
//! A statement may store the sequence number of a message inserted earlier in the batch
//! ([`Param::SeqOf`], [`Param::MessageJson`]): run in order, that is a look-up by the
//! message's unique key. PostgreSQL prepares one statement at a time, and each is a round trip
//! to another process on the same cores, so there a batch that starts with the insert of a
//! conversation's messages can also go as one statement of data-modifying `WITH` clauses
//! ([`Batch::execute_as_one`]), which is its own transaction: the sequence numbers come from
//! the insert's `RETURNING`. PostgreSQL runs the clauses of such a statement in no promised
//! order and does not let two of them change one row, so statements with the same SQL are
//! merged into one multi-row `INSERT` (rows keep the batch's order, and with it the order of
//! their sequence numbers: events stay in order) and a batch never changes a row twice.

use crate::domain::MessageRole;
use sqlx::AnyConnection;

mod grouped;

/// One bound value.
#[derive(Debug, Clone)]
pub(super) enum Param {
    /// Text or NULL.
    Text(Option<String>),
    /// Integer or NULL.
    Int(Option<i64>),
    /// A real number.
    Real(f64),
    /// The sequence number of a message the batch inserted before.
    SeqOf(MessageKey),
    /// A message's JSON, serialised with [`SEQ_PLACEHOLDER`] as its `seq`, stored with the
    /// sequence number of that message, which the batch inserted before.
    MessageJson(String, MessageKey),
}

/// A message a batch inserts: its unique key, and its role (the one-statement form's `m`
/// clause returns one message of each role).
#[derive(Debug, Clone)]
pub(super) struct MessageKey {
    pub(super) role: MessageRole,
    pub(super) shop: String,
    pub(super) message_id: String,
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

/// A value bound to a `$n` ([`placed`] turns a statement's parameters into SQL and these).
#[derive(Debug)]
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Real(f64),
}

fn bind(mut q: AnyQuery<'_>, values: Vec<Value>) -> AnyQuery<'_> {
    for v in values {
        q = match v {
            Value::Text(v) => q.bind(v),
            Value::Int(v) => q.bind(v),
            Value::Real(v) => q.bind(v),
        };
    }
    q
}

impl Param {
    /// Whether this refers to a message rather than holding a value.
    fn refers(&self) -> bool {
        matches!(self, Param::SeqOf(_) | Param::MessageJson(..))
    }

    /// The value to bind, or `None` for a reference to a message.
    fn into_value(self) -> Option<Value> {
        match self {
            Param::Text(v) => Some(Value::Text(v)),
            Param::Int(v) => Some(Value::Int(v)),
            Param::Real(v) => Some(Value::Real(v)),
            Param::SeqOf(_) | Param::MessageJson(..) => None,
        }
    }
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

/// How a batch's SQL names an inserted message's sequence number.
#[derive(Debug, Clone, Copy)]
enum SeqSql {
    /// By the message's unique key: statements run in order see the rows before them.
    Lookup,
    /// From the one-statement form's `m` clause (its sibling clauses cannot see its rows).
    Returned,
}

impl SeqSql {
    fn of(self, key: MessageKey, args: &mut Vec<Value>) -> String {
        match self {
            SeqSql::Lookup => {
                args.push(Value::Text(Some(key.shop)));
                args.push(Value::Text(Some(key.message_id)));
                format!("(SELECT seq FROM messages WHERE shop = ${} AND message_id = ${})", args.len() - 1, args.len())
            }
            SeqSql::Returned => {
                format!("(SELECT seq FROM m WHERE role = '{}')", key.role.as_str())
            }
        }
    }
}

/// One statement's SQL with its `$n` renumbered into the shared argument list `args`, and
/// message references written as SQL.
fn placed(statement: Statement, args: &mut Vec<Value>, seq: SeqSql) -> String {
    let mut to: Vec<String> = Vec::with_capacity(statement.params.len());
    for p in statement.params {
        match p {
            Param::SeqOf(key) => to.push(seq.of(key, args)),
            Param::MessageJson(json, key) => {
                args.push(Value::Text(Some(json)));
                let at = args.len();
                to.push(seq_filled(&format!("${at}"), &seq.of(key, args)));
            }
            value => {
                args.extend(value.into_value());
                to.push(format!("${}", args.len()));
            }
        }
    }
    rendered(statement.sql, |n| to.get(n.wrapping_sub(1)).cloned().unwrap_or_else(|| format!("${n}")))
}

/// The row part of `INSERT … VALUES (…)`, when a statement is exactly that (and so can take
/// more rows).
fn values_row(sql: &str) -> Option<usize> {
    let row = sql.strip_prefix("INSERT INTO ").and(sql.rfind(" VALUES ("))? + " VALUES ".len();
    // The row's parenthesis closes at the very end: no clause follows it.
    let end = row + closing_parenthesis(&sql[row..])?;
    (end + 1 == sql.len()).then_some(row)
}

/// Where the parenthesis that opens `sql` closes; one inside a string literal is text (`''`
/// inside one toggles twice).
fn closing_parenthesis(sql: &str) -> Option<usize> {
    let (mut depth, mut quoted) = (0usize, false);
    for (i, c) in sql.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            _ if quoted => {}
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// SQL of a message's JSON `json` with its placeholder `seq` replaced by `seq` (both SQL).
fn seq_filled(json: &str, seq: &str) -> String {
    format!("replace({json}, '\"seq\":{SEQ_PLACEHOLDER}', '\"seq\":' || {seq})")
}

impl Batch {
    /// Adds a statement.
    pub(super) fn push(&mut self, statement: Statement) {
        self.statements.push(statement);
    }

    /// SQLite: the batch in one call that opens and closes its own savepoint, so it leaves
    /// all of its changes or none without a savepoint of the writer's (an error undoes what
    /// ran before it, in one more call).
    pub(super) async fn execute_all_or_nothing(self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        let (mut sql, mut args) = (String::from("SAVEPOINT batch;\n"), Vec::new());
        for s in self.statements {
            sql.push_str(&placed(s, &mut args, SeqSql::Lookup));
            sql.push_str(";\n");
        }
        sql.push_str("RELEASE batch");
        match bind(sqlx::query(sqlx::AssertSqlSafe(sql)), args).execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) => {
                sqlx::raw_sql("ROLLBACK TO batch; RELEASE batch").execute(&mut *conn).await?;
                Err(e)
            }
        }
    }

    /// PostgreSQL: the batch as one statement, its own transaction on a connection of its
    /// own. The first statement must be an `INSERT INTO messages … RETURNING seq, role` of one
    /// message per role; later statements may refer to those messages.
    pub(super) async fn execute_as_one(self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        let (sql, args) = self.one_statement();
        bind(sqlx::query(sqlx::AssertSqlSafe(sql)), args).execute(&mut *conn).await?;
        Ok(())
    }

    /// PostgreSQL: several batches, each starting with the same insert of its messages (without
    /// `RETURNING`), as one statement and one transaction (group commit, `batch/grouped.rs`).
    /// `Ok(false)` when they cannot be merged: nothing was run.
    pub(super) async fn execute_grouped(batches: Vec<Batch>, conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
        let Some((sql, args)) = grouped::grouped(batches) else { return Ok(false) };
        bind(sqlx::query(sqlx::AssertSqlSafe(sql)), args).execute(&mut *conn).await?;
        Ok(true)
    }

    /// The SQL and arguments of [`Batch::execute_as_one`].
    fn one_statement(self) -> (String, Vec<Value>) {
        let mut args = Vec::new();
        let mut clauses: Vec<(&'static str, String)> = Vec::new();
        for statement in self.statements {
            let sql = statement.sql;
            let merged = values_row(sql).and_then(|row| clauses.iter().skip(1).position(|(s, _)| *s == sql).map(|i| (i + 1, row)));
            let text = placed(statement, &mut args, SeqSql::Returned);
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
        sql.push_str(" SELECT 1");
        (sql, args)
    }
}

impl Statement {
    /// Runs this one statement (its SQL as written unless it refers to a message).
    pub(super) async fn execute(self, conn: &mut AnyConnection) -> Result<u64, sqlx::Error> {
        let done = if self.params.iter().any(|p| p.refers()) {
            let mut args = Vec::new();
            let sql = placed(self, &mut args, SeqSql::Lookup);
            bind(sqlx::query(sqlx::AssertSqlSafe(sql)), args).execute(&mut *conn).await?
        } else {
            let values = self.params.into_iter().filter_map(Param::into_value).collect();
            bind(sqlx::query(self.sql), values).execute(&mut *conn).await?
        };
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::{Batch, MessageKey, Param, Statement, rendered, values_row};
    use crate::domain::MessageRole;

    fn renumbered(sql: &str, offset: usize) -> String {
        rendered(sql, |n| format!("${}", n + offset))
    }

    fn batch() -> Batch {
        let key = |role: MessageRole| MessageKey { role, shop: "demo".into(), message_id: format!("{role}-1") };
        let event = |payload: Param| Statement { sql: "INSERT INTO e (k, p) VALUES ($1, $2)", params: vec!["message".into(), payload] };
        let mut batch = Batch::default();
        batch.push(Statement {
            sql: "INSERT INTO messages (id) VALUES ($1), ($2) RETURNING seq, role",
            params: vec!["c".into(), "b".into()],
        });
        batch.push(event(Param::MessageJson("{\"seq\":-1}".into(), key(MessageRole::Customer))));
        batch.push(Statement {
            sql: "INSERT INTO d (seq, x) VALUES ($1, $2)",
            params: vec![Param::SeqOf(key(MessageRole::Customer)), "a".into()],
        });
        batch.push(Statement { sql: "UPDATE t SET a = $1 WHERE id = $2 AND b = $1", params: vec!["v".into(), "t-1".into()] });
        batch.push(event(Param::MessageJson("{\"seq\":-1}".into(), key(MessageRole::Bot))));
        batch
    }

    #[test]
    fn as_one_statement_rows_merge_and_sequence_numbers_come_from_the_insert() {
        let (sql, args) = batch().one_statement();
        let customer = "(SELECT seq FROM m WHERE role = 'customer')";
        let bot = "(SELECT seq FROM m WHERE role = 'bot')";
        assert_eq!(
            sql,
            format!(
                "WITH m AS (INSERT INTO messages (id) VALUES ($1), ($2) RETURNING seq, role), \
                 s1 AS (INSERT INTO e (k, p) VALUES ($3, replace($4, '\"seq\":-1', '\"seq\":' || {customer})), ($8, replace($9, '\"seq\":-1', '\"seq\":' || {bot}))), \
                 s2 AS (INSERT INTO d (seq, x) VALUES ({customer}, $5)), \
                 s3 AS (UPDATE t SET a = $6 WHERE id = $7 AND b = $6) \
                 SELECT 1"
            )
        );
        assert_eq!(args.len(), 9);
    }

    #[test]
    fn in_order_sequence_numbers_are_looked_up_by_the_messages_key() {
        let mut args = Vec::new();
        let sql: Vec<String> = batch().statements.into_iter().map(|s| super::placed(s, &mut args, super::SeqSql::Lookup)).collect();
        assert_eq!(
            sql[1],
            "INSERT INTO e (k, p) VALUES ($3, replace($4, '\"seq\":-1', '\"seq\":' || (SELECT seq FROM messages WHERE shop = $5 AND message_id = $6)))"
        );
        assert_eq!(sql[2], "INSERT INTO d (seq, x) VALUES ((SELECT seq FROM messages WHERE shop = $7 AND message_id = $8), $9)");
        assert_eq!(sql[3], "UPDATE t SET a = $10 WHERE id = $11 AND b = $10");
        assert_eq!(args.len(), 15);
        assert!(matches!(&args[7], super::Value::Text(Some(id)) if id == "customer-1"), "{args:?}");
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
