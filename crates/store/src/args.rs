//! Bind-parameter bookkeeping for queries that splice in an RBAC filter.

use agentry_rbac::{Columns, Filter, SqlParam};
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Encode, Postgres, Type};

/// Collects arguments in order and hands out their `$n` placeholders, so a query's own
/// parameters and the filter's parameters can never be misnumbered.
#[derive(Default)]
pub(crate) struct Args {
    args: PgArguments,
    count: usize,
}

impl Args {
    /// Adds a value; returns its placeholder (`$n`).
    pub(crate) fn push<'q, T>(&mut self, value: T) -> String
    where
        T: Encode<'q, Postgres> + Type<Postgres> + Send + 'q,
    {
        self.args.add(value).expect("encoding a bind parameter");
        self.count += 1;
        format!("${}", self.count)
    }

    /// Renders `filter` over `cols` with the next free placeholders and adds its values.
    pub(crate) fn filter(&mut self, filter: &Filter, cols: Columns) -> String {
        let frag = filter.to_sql(cols, self.count + 1);
        for p in frag.params {
            match p {
                SqlParam::Uuid(u) => self.push(u),
                SqlParam::UuidArray(v) => self.push(v),
            };
        }
        frag.sql
    }

    pub(crate) fn into_inner(self) -> PgArguments {
        self.args
    }
}
