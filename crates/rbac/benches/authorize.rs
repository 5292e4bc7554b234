//! `authorize` and `prepare` for three kinds of subject in 1, 10 and 100 organizations.
//! Results and how to rerun: `docs/benchmarks/rbac.md`.

use std::hint::black_box;

use agentry_rbac::{Action, Columns, Object, OrgRole, ResourceType, SiteRole, Subject};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use uuid::Uuid;

const COLS: Columns = Columns { org: Some("organization_id"), owner: Some("owner_id") };

fn orgs(n: usize) -> Vec<Uuid> {
    (0..n).map(|_| Uuid::new_v4()).collect()
}

/// (label, subject, object asked about) for one organization count.
fn cases(n: usize) -> Vec<(&'static str, Subject, Object)> {
    let me = Uuid::new_v4();
    let other = Uuid::new_v4();
    let orgs = orgs(n);
    let target = *orgs.last().unwrap();

    let owner = orgs
        .iter()
        .fold(Subject::new(me).with_site_role(SiteRole::Owner), |s, &o| s.with_org(o, &[]));
    let admin = orgs
        .iter()
        .fold(Subject::new(me), |s, &o| s.with_org(o, &[OrgRole::OrganizationAdmin]));
    let member = orgs
        .iter()
        .fold(Subject::new(me), |s, &o| s.with_org(o, &[OrgRole::AgentsAccess]));

    let chat = Object::new(ResourceType::Chat).with_id(Uuid::new_v4()).in_org(target);
    vec![
        ("site_owner", owner, chat.owned_by(other)),
        ("org_admin", admin, chat.owned_by(other)),
        ("member_agents_access", member, chat.owned_by(me)),
    ]
}

fn bench(c: &mut Criterion) {
    for n in [1usize, 10, 100] {
        for (label, subject, object) in cases(n) {
            assert!(subject.can(Action::Read, &object), "{label} must be allowed");
            c.bench_with_input(BenchmarkId::new(format!("authorize/{label}"), n), &n, |b, _| {
                b.iter(|| black_box(&subject).authorize(black_box(Action::Read), black_box(&object)))
            });
            c.bench_with_input(BenchmarkId::new(format!("prepare/{label}"), n), &n, |b, _| {
                b.iter(|| {
                    let f = black_box(&subject).prepare(black_box(Action::Read), ResourceType::Chat);
                    black_box(f.to_sql(COLS, 1))
                })
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
