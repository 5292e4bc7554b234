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

    /// How many values were added.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn into_inner(self) -> PgArguments {
        self.args
    }
}

/// One ordered way into a list's rows: a key condition an index can range over in the list's
/// order, optionally inside a lateral join over `from` (one range per organization).
///
/// An RBAC filter is an OR (rows of these organizations, or the caller's own rows in those);
/// PostgreSQL cannot read such a set in `created_at`/`time` order from one index, and sorts
/// everything the caller may see to return one page. Splitting the filter into its parts and
/// taking a page from each, in index order, makes a page cost a page. The filter itself is
/// still applied on every branch.
pub(crate) struct Source {
    from: Option<String>,
    pub(crate) key: String,
}

impl Source {
    pub(crate) fn keyed(key: String) -> Source {
        Source { from: None, key }
    }

    /// `inner` (a complete `SELECT … ORDER BY … LIMIT n` using [`Source::key`]) as one branch
    /// of a `UNION ALL`.
    pub(crate) fn branch(&self, inner: &str) -> String {
        match &self.from {
            Some(from) => format!("(SELECT x.* FROM {from} CROSS JOIN LATERAL ({inner}) x)"),
            None => format!("({inner})"),
        }
    }
}

impl Args {
    /// The sources of the rows `filter` lets through over `cols`, or `None` when it lets none
    /// through. Organization sources bind the organization as `src.org_id`.
    pub(crate) fn sources(&mut self, filter: &Filter, cols: Columns) -> Option<Vec<Source>> {
        let c = match filter {
            Filter::Nothing => return None,
            Filter::All => return Some(vec![Source::keyed("TRUE".into())]),
            Filter::Some(c) => c,
        };
        let mut out = Vec::new();
        match (cols.org, cols.owner) {
            (Some(org), owner) => {
                if !c.orgs.is_empty() {
                    let p = self.push(c.orgs.clone());
                    out.push(Source { from: Some(format!("unnest({p}::uuid[]) AS src(org_id)")), key: format!("{org} = src.org_id") });
                }
                if let Some(owner) = owner {
                    if !c.owned_in_orgs.is_empty() {
                        let (me, p) = (self.push(c.me), self.push(c.owned_in_orgs.clone()));
                        out.push(Source::keyed(format!("{owner} = {me} AND {org} = ANY({p}::uuid[])")));
                    }
                    if c.owned_without_org {
                        let me = self.push(c.me);
                        out.push(Source::keyed(format!("{owner} = {me} AND {org} IS NULL")));
                    }
                }
            }
            (None, Some(owner)) if c.owned_without_org => {
                let me = self.push(c.me);
                out.push(Source::keyed(format!("{owner} = {me}")));
            }
            (None, _) => {}
        }
        if out.is_empty() { None } else { Some(out) }
    }
}

/// The page `limit`/`offset` of the union of `sources`, newest first by `order`: each source's
/// branch reads its own ordered range (`select` with the source's key condition, then `order`)
/// and stops after `limit + offset` rows, so the final sort sees a few pages whatever the table
/// holds. `select` is the branch's query up to and including its `WHERE` conditions, which the
/// key is ANDed to; `alias` names the union's rows in `order`.
pub(crate) fn union_page(sources: &[Source], select: &str, order: &str, alias: &str, limit: i64, offset: i64) -> String {
    let (limit, offset) = (limit.max(0), offset.max(0));
    // An offset near i64::MAX is an empty page, not an overflow.
    let take = limit.saturating_add(offset);
    let branches: Vec<String> = sources
        .iter()
        .map(|s| s.branch(&format!("{select} AND {} ORDER BY {order} LIMIT {take}", s.key)))
        .collect();
    format!("SELECT * FROM ({}) {alias} ORDER BY {order} LIMIT {limit} OFFSET {offset}", branches.join(" UNION ALL "))
}
