//! The golden decision table: one row per (subject, object, action) with the expected answer.
//!
//! Rows read like "org-admin of another org | chat in O owned by me | read | denied". The chat
//! rows are SPEC §2.3 exactly; the rest pin workspace, template, organization, membership, user,
//! role-assignment, provider and audit-log decisions. `every_declared_pair_is_covered` fails if
//! the engine declares a (type, action) pair that no row exercises.

use std::collections::{BTreeSet, HashMap};

use agentry_rbac::{Action, Object, OrgRole, ResourceType, SiteRole, Subject, prepare};
use uuid::Uuid;

const TABLE: &str = "
# --- SPEC §2.3: chats (chat in O owned by me) ---
site owner                             | chat in O owned by me | create | allowed
site owner                             | chat in O owned by me | read   | allowed
site owner                             | chat in O owned by me | update | allowed
site owner                             | chat in O owned by me | delete | allowed
org-admin of O                         | chat in O owned by me | create | allowed
org-admin of O                         | chat in O owned by me | read   | allowed
org-admin of O                         | chat in O owned by me | update | allowed
org-admin of O                         | chat in O owned by me | delete | allowed
org-admin of another org               | chat in O owned by me | create | denied
org-admin of another org               | chat in O owned by me | read   | denied
org-admin of another org               | chat in O owned by me | update | denied
org-admin of another org               | chat in O owned by me | delete | denied
me: member of O with agents-access     | chat in O owned by me | create | allowed
me: member of O with agents-access     | chat in O owned by me | read   | allowed
me: member of O with agents-access     | chat in O owned by me | update | allowed
me: member of O with agents-access     | chat in O owned by me | delete | denied
me: member of O without agents-access  | chat in O owned by me | create | denied
me: member of O without agents-access  | chat in O owned by me | read   | allowed
me: member of O without agents-access  | chat in O owned by me | update | allowed
me: member of O without agents-access  | chat in O owned by me | delete | denied
another member of O with agents-access | chat in O owned by me | create | denied
another member of O with agents-access | chat in O owned by me | read   | denied
another member of O with agents-access | chat in O owned by me | update | denied
another member of O with agents-access | chat in O owned by me | delete | denied
me after removal from O                | chat in O owned by me | create | denied
me after removal from O                | chat in O owned by me | read   | denied
me after removal from O                | chat in O owned by me | update | denied
me after removal from O                | chat in O owned by me | delete | denied
site member in no org                  | chat in O owned by me | create | denied
site member in no org                  | chat in O owned by me | read   | denied
site member in no org                  | chat in O owned by me | update | denied
site member in no org                  | chat in O owned by me | delete | denied
site auditor                           | chat in O owned by me | create | denied
site auditor                           | chat in O owned by me | read   | denied
site auditor                           | chat in O owned by me | update | denied
site auditor                           | chat in O owned by me | delete | denied
site template-admin                    | chat in O owned by me | create | denied
site template-admin                    | chat in O owned by me | read   | denied
site template-admin                    | chat in O owned by me | update | denied
site template-admin                    | chat in O owned by me | delete | denied
site user-admin                        | chat in O owned by me | create | denied
site user-admin                        | chat in O owned by me | read   | denied
site user-admin                        | chat in O owned by me | update | denied
site user-admin                        | chat in O owned by me | delete | denied
org auditor of O                       | chat in O owned by me | create | denied
org auditor of O                       | chat in O owned by me | read   | denied
org auditor of O                       | chat in O owned by me | update | denied
org auditor of O                       | chat in O owned by me | delete | denied
org user-admin of O                    | chat in O owned by me | create | denied
org user-admin of O                    | chat in O owned by me | read   | denied
org user-admin of O                    | chat in O owned by me | update | denied
org user-admin of O                    | chat in O owned by me | delete | denied
org template-admin of O                | chat in O owned by me | create | denied
org template-admin of O                | chat in O owned by me | read   | denied
org template-admin of O                | chat in O owned by me | update | denied
org template-admin of O                | chat in O owned by me | delete | denied
# SPEC §7: membership is part of may-start-AI-work-here, even for the site owner.
site owner, not a member of O          | chat in O owned by the site owner | create | denied
site owner, not a member of O          | chat in O owned by the site owner | read   | allowed
site owner, not a member of O          | chat in O owned by the site owner | update | allowed
site owner, not a member of O          | chat in O owned by the site owner | delete | allowed
site owner                             | chat in O owned by the site owner | create | allowed

# --- workspaces: the owner executes, org admins manage without ssh, the ban denies create/delete ---
me: member of O without agents-access  | workspace in O owned by me | create | allowed
me: member of O without agents-access  | workspace in O owned by me | read   | allowed
me: member of O without agents-access  | workspace in O owned by me | update | allowed
me: member of O without agents-access  | workspace in O owned by me | delete | allowed
me: member of O without agents-access  | workspace in O owned by me | start  | allowed
me: member of O without agents-access  | workspace in O owned by me | stop   | allowed
me: member of O without agents-access  | workspace in O owned by me | ssh    | allowed
site owner                             | workspace in O owned by me | ssh    | allowed
site owner                             | workspace in O owned by me | create | allowed
site owner                             | workspace in O owned by another member | ssh | allowed
org-admin of O                         | workspace in O owned by me | create | allowed
org-admin of O                         | workspace in O owned by me | read   | allowed
org-admin of O                         | workspace in O owned by me | update | allowed
org-admin of O                         | workspace in O owned by me | delete | allowed
org-admin of O                         | workspace in O owned by me | start  | allowed
org-admin of O                         | workspace in O owned by me | stop   | allowed
org-admin of O                         | workspace in O owned by me | ssh    | denied
org-admin of O                         | workspace in O owned by another member | stop | allowed
org-admin of O                         | workspace in O owned by another member | ssh  | denied
org-admin of O banned from workspaces  | workspace in O owned by me | create | denied
org-admin of O banned from workspaces  | workspace in O owned by me | delete | denied
org-admin of O banned from workspaces  | workspace in O owned by me | read   | allowed
org-admin of O banned from workspaces  | workspace in O owned by me | update | allowed
org-admin of O banned from workspaces  | workspace in O owned by me | stop   | allowed
org-admin of O banned from workspaces  | workspace in O owned by me | ssh    | denied
me: member of O banned from workspaces | workspace in O owned by me | create | denied
me: member of O banned from workspaces | workspace in O owned by me | delete | denied
me: member of O banned from workspaces | workspace in O owned by me | read   | allowed
me: member of O banned from workspaces | workspace in O owned by me | start  | allowed
me: member of O banned from workspaces | workspace in O owned by me | ssh    | allowed
me: member of O without agents-access  | workspace in O owned by another member | read | denied
me: member of O without agents-access  | workspace in O owned by another member | ssh  | denied
another member of O with agents-access | workspace in O owned by me | stop   | denied
org-admin of another org               | workspace in O owned by me | read   | denied
org-admin of another org               | workspace in O owned by me | stop   | denied
site template-admin                    | workspace in O owned by me | read   | allowed
site template-admin                    | workspace in O owned by me | update | denied
site template-admin                    | workspace in O owned by me | ssh    | denied
org template-admin of O                | workspace in O owned by me | read   | allowed
org template-admin of O                | workspace in O owned by me | create | denied
org template-admin of O                | workspace in O owned by me | ssh    | denied
site auditor                           | workspace in O owned by me | read   | denied
org auditor of O                       | workspace in O owned by me | read   | denied
me after removal from O                | workspace in O owned by me | read   | denied
me after removal from O                | workspace in O owned by me | ssh    | denied

# --- templates: members read and use, template admins manage ---
site owner                             | template in O | create | allowed
site owner                             | template in O | delete | allowed
org-admin of O                         | template in O | create | allowed
org-admin of O                         | template in O | update | allowed
org-admin of O                         | template in O | delete | allowed
org-admin of O                         | template in O | use    | allowed
site template-admin                    | template in O | create | allowed
site template-admin                    | template in O | update | allowed
site template-admin                    | template in O | use    | allowed
site template-admin                    | template in another org | update | allowed
org template-admin of O                | template in O | create | allowed
org template-admin of O                | template in O | update | allowed
org template-admin of O                | template in O | delete | allowed
org template-admin of O                | template in another org | update | denied
me: member of O without agents-access  | template in O | read   | allowed
me: member of O without agents-access  | template in O | use    | allowed
me: member of O without agents-access  | template in O | create | denied
me: member of O without agents-access  | template in O | update | denied
me: member of O without agents-access  | template in O | delete | denied
me: member of O without agents-access  | template in another org | read | denied
me: member of O without agents-access  | template in another org | use  | denied
org auditor of O                       | template in O | read   | allowed
org auditor of O                       | template in O | update | denied
org user-admin of O                    | template in O | read   | allowed
org user-admin of O                    | template in O | update | denied
site auditor                           | template in O | read   | allowed
site auditor                           | template in O | use    | denied
site member in no org                  | template in O | read   | denied
site user-admin                        | template in O | read   | denied
org-admin of another org               | template in O | read   | denied
org-admin of another org               | template in O | use    | denied

# --- organizations ---
site owner                             | a new organization | create | allowed
org-admin of O                         | a new organization | create | denied
site user-admin                        | a new organization | create | denied
me: member of O with agents-access     | a new organization | create | denied
me: member of O without agents-access  | organization O | read   | allowed
me: member of O without agents-access  | organization O | update | denied
me: member of O without agents-access  | organization O | delete | denied
org-admin of O                         | organization O | read   | allowed
org-admin of O                         | organization O | update | allowed
org-admin of O                         | organization O | delete | allowed
org-admin of another org               | organization O | read   | denied
org-admin of another org               | organization O | update | denied
org auditor of O                       | organization O | read   | allowed
org user-admin of O                    | organization O | update | denied
org template-admin of O                | organization O | read   | allowed
org template-admin of O                | organization O | delete | denied
site auditor                           | organization O | read   | allowed
site template-admin                    | organization O | read   | allowed
site user-admin                        | organization O | read   | allowed
site user-admin                        | organization O | delete | denied
site member in no org                  | organization O | read   | denied
site owner                             | organization O | update | allowed

# --- organization members ---
me: member of O without agents-access  | membership of me in O | read   | allowed
another member of O with agents-access | membership of me in O | read   | allowed
another member of O with agents-access | membership of me in O | delete | denied
org auditor of O                       | membership of me in O | read   | allowed
site auditor                           | membership of me in O | read   | allowed
site template-admin                    | membership of me in O | read   | allowed
site member in no org                  | membership of me in O | read   | denied
org-admin of another org               | membership of me in O | read   | denied
org-admin of another org               | membership of me in O | delete | denied
me after removal from O                | membership of me in O | read   | denied
site owner                             | membership of me in O | create | allowed
org-admin of O                         | membership of me in O | create | allowed
org-admin of O                         | membership of me in O | delete | allowed
org user-admin of O                    | membership of me in O | create | allowed
org user-admin of O                    | membership of me in O | update | allowed
site user-admin                        | membership of me in O | create | allowed
site user-admin                        | membership of me in O | delete | allowed
me: member of O without agents-access  | membership of me in O | create | denied
me: member of O without agents-access  | membership of me in O | update | denied
org template-admin of O                | membership of me in O | create | denied

# --- users ---
site member in no org                  | my user | read            | allowed
site member in no org                  | my user | read_personal   | allowed
site member in no org                  | my user | update_personal | allowed
site member in no org                  | my user | update          | denied
site member in no org                  | my user | delete          | denied
site member in no org                  | another user | read       | denied
site member in no org                  | another user | read_personal | denied
org-admin of O                         | another user | read       | allowed
org-admin of O                         | another user | read_personal | denied
org-admin of O                         | another user | update     | denied
org user-admin of O                    | another user | read       | allowed
org user-admin of O                    | another user | delete     | denied
org template-admin of O                | another user | read       | denied
org auditor of O                       | another user | read       | denied
site auditor                           | another user | read       | allowed
site template-admin                    | another user | read       | allowed
site user-admin                        | another user | read_personal   | allowed
site user-admin                        | another user | update_personal | allowed
site user-admin                        | another user | update     | allowed
site user-admin                        | another user | delete     | allowed
site owner                             | another user | delete     | allowed
site owner                             | a new user | create       | allowed
site user-admin                        | a new user | create       | allowed
org-admin of O                         | a new user | create       | denied
org user-admin of O                    | a new user | create       | denied

# --- role assignment ---
site owner                             | site role assignment | assign   | allowed
site user-admin                        | site role assignment | assign   | allowed
site user-admin                        | site role assignment | unassign | allowed
org-admin of O                         | site role assignment | assign   | denied
site member in no org                  | site role assignment | unassign | denied
site member in no org                  | site role assignment | read     | allowed
org-admin of O                         | org role assignment in O | assign   | allowed
org-admin of O                         | org role assignment in O | unassign | allowed
org-admin of O                         | org role assignment in O | read     | allowed
org user-admin of O                    | org role assignment in O | assign   | allowed
site user-admin                        | org role assignment in O | assign   | allowed
org-admin of another org               | org role assignment in O | assign   | denied
me: member of O with agents-access     | org role assignment in O | assign   | denied
me: member of O with agents-access     | org role assignment in O | unassign | denied
me: member of O without agents-access  | org role assignment in O | read     | denied
org auditor of O                       | org role assignment in O | read     | denied

# --- chat providers and model configs (deployment-wide) ---
site owner                             | chat provider | create | allowed
site owner                             | chat provider | read   | allowed
site owner                             | chat provider | update | allowed
site owner                             | chat provider | delete | allowed
org-admin of O                         | chat provider | create | denied
site user-admin                        | chat provider | create | denied
site template-admin                    | chat provider | delete | denied
me: member of O with agents-access     | chat provider | read   | denied
# --- organization providers and model configs (issue 14): the org's admins manage them ---
site owner                             | chat provider in O | create | allowed
org-admin of O                         | chat provider in O | create | allowed
org-admin of O                         | chat provider in O | read   | allowed
org-admin of O                         | chat provider in O | update | allowed
org-admin of O                         | chat provider in O | delete | allowed
org-admin of another org               | chat provider in O | read   | denied
org-admin of another org               | chat provider in O | update | denied
org auditor of O                       | chat provider in O | read   | denied
me: member of O with agents-access     | chat provider in O | read   | denied
me: member of O with agents-access     | chat provider in O | create | denied
site user-admin                        | chat provider in O | create | denied

# --- audit log ---
site owner                             | site audit log | read | allowed
site auditor                           | site audit log | read | allowed
org auditor of O                       | site audit log | read | denied
org-admin of O                         | site audit log | read | denied
site auditor                           | audit log of O | read | allowed
org auditor of O                       | audit log of O | read | allowed
org-admin of O                         | audit log of O | read | allowed
org-admin of another org               | audit log of O | read | denied
me: member of O with agents-access     | audit log of O | read | denied

# --- the deployment (replicas, metrics): site owner and site auditor only ---
site owner                             | the deployment | read | allowed
site auditor                           | the deployment | read | allowed
org-admin of O                         | the deployment | read | denied
org auditor of O                       | the deployment | read | denied
site user-admin                        | the deployment | read | denied
site template-admin                    | the deployment | read | denied
me: member of O with agents-access     | the deployment | read | denied
site member in no org                  | the deployment | read | denied

# --- chat usage and budgets: a user their own, org admins and org auditors their org, site owner
# --- and site auditor everything; only org admins (and the site owner) set budgets ---
site owner                             | usage of O | read   | allowed
site owner                             | usage of O | update | allowed
site auditor                           | usage of O | read   | allowed
site auditor                           | usage of O | update | denied
org-admin of O                         | usage of O | read   | allowed
org-admin of O                         | usage of O | update | allowed
org-admin of O                         | usage of me in O | read   | allowed
org-admin of O                         | usage of me in O | update | allowed
org-admin of another org               | usage of O | read   | denied
org-admin of another org               | usage of O | update | denied
org-admin of another org               | usage of me in O | read | denied
org auditor of O                       | usage of O | read   | allowed
org auditor of O                       | usage of O | update | denied
org auditor of O                       | usage of me in O | read | allowed
me: member of O with agents-access     | usage of me in O | read   | allowed
me: member of O with agents-access     | usage of me in O | update | denied
me: member of O with agents-access     | usage of O | read   | denied
another member of O with agents-access | usage of me in O | read   | denied
me after removal from O                | usage of me in O | read   | denied
org user-admin of O                    | usage of O | read   | denied
org template-admin of O                | usage of O | read   | denied
site user-admin                        | usage of O | read   | denied
site template-admin                    | usage of O | read   | denied
site member in no org                  | my usage   | read   | allowed
site member in no org                  | my usage   | update | denied
site member in no org                  | usage of another user | read | denied
org-admin of O                         | usage of another user | read | denied
site auditor                           | usage of another user | read | allowed
site owner                             | all usage  | read   | allowed
site auditor                           | all usage  | read   | allowed
org-admin of O                         | all usage  | read   | denied
";

struct World {
    subjects: HashMap<&'static str, Subject>,
    objects: HashMap<&'static str, Object>,
}

fn world() -> World {
    let id = |n: u128| Uuid::from_u128(n);
    let (me, other, owner, admin, admin2, x) = (id(1), id(2), id(3), id(4), id(5), id(6));
    let (o, p) = (id(100), id(200));

    let subjects = HashMap::from([
        ("site owner", Subject::new(owner).with_site_role(SiteRole::Owner).with_org(o, &[])),
        ("site owner, not a member of O", Subject::new(owner).with_site_role(SiteRole::Owner)),
        ("org-admin of O", Subject::new(admin).with_org(o, &[OrgRole::OrganizationAdmin])),
        ("org-admin of another org", Subject::new(admin2).with_org(p, &[OrgRole::OrganizationAdmin])),
        ("me: member of O with agents-access", Subject::new(me).with_org(o, &[OrgRole::AgentsAccess])),
        ("me: member of O without agents-access", Subject::new(me).with_org(o, &[])),
        ("another member of O with agents-access", Subject::new(other).with_org(o, &[OrgRole::AgentsAccess])),
        ("me after removal from O", Subject::new(me).with_org(p, &[OrgRole::AgentsAccess])),
        ("site member in no org", Subject::new(me)),
        ("site auditor", Subject::new(x).with_site_role(SiteRole::Auditor)),
        ("site template-admin", Subject::new(x).with_site_role(SiteRole::TemplateAdmin)),
        ("site user-admin", Subject::new(x).with_site_role(SiteRole::UserAdmin)),
        ("org auditor of O", Subject::new(x).with_org(o, &[OrgRole::OrganizationAuditor])),
        ("org user-admin of O", Subject::new(x).with_org(o, &[OrgRole::OrganizationUserAdmin])),
        ("org template-admin of O", Subject::new(x).with_org(o, &[OrgRole::OrganizationTemplateAdmin])),
        (
            "org-admin of O banned from workspaces",
            Subject::new(admin).with_org(
                o,
                &[OrgRole::OrganizationAdmin, OrgRole::OrganizationWorkspaceCreationBan],
            ),
        ),
        (
            "me: member of O banned from workspaces",
            Subject::new(me).with_org(o, &[OrgRole::OrganizationWorkspaceCreationBan]),
        ),
    ]);

    use ResourceType as T;
    let objects = HashMap::from([
        ("chat in O owned by me", Object::new(T::Chat).with_id(id(1000)).owned_by(me).in_org(o)),
        ("chat in O owned by the site owner", Object::new(T::Chat).with_id(id(1005)).owned_by(owner).in_org(o)),
        ("workspace in O owned by me", Object::new(T::Workspace).with_id(id(1001)).owned_by(me).in_org(o)),
        (
            "workspace in O owned by another member",
            Object::new(T::Workspace).with_id(id(1002)).owned_by(other).in_org(o),
        ),
        ("template in O", Object::new(T::Template).with_id(id(1003)).in_org(o)),
        ("template in another org", Object::new(T::Template).with_id(id(1004)).in_org(p)),
        ("a new organization", Object::new(T::Organization)),
        ("organization O", Object::new(T::Organization).with_id(o).in_org(o)),
        ("membership of me in O", Object::new(T::OrganizationMember).owned_by(me).in_org(o)),
        ("my user", Object::new(T::User).with_id(me).owned_by(me)),
        ("another user", Object::new(T::User).with_id(other).owned_by(other)),
        ("a new user", Object::new(T::User)),
        ("site role assignment", Object::new(T::AssignRole)),
        ("org role assignment in O", Object::new(T::AssignOrgRole).in_org(o)),
        ("chat provider", Object::new(T::ChatProvider)),
        ("chat provider in O", Object::new(T::ChatProvider).in_org(o)),
        ("site audit log", Object::new(T::AuditLog)),
        ("the deployment", Object::new(T::Deployment)),
        ("audit log of O", Object::new(T::AuditLog).in_org(o)),
        ("usage of O", Object::new(T::ChatUsage).in_org(o)),
        ("usage of me in O", Object::new(T::ChatUsage).owned_by(me).in_org(o)),
        ("my usage", Object::new(T::ChatUsage).owned_by(me)),
        ("usage of another user", Object::new(T::ChatUsage).owned_by(other)),
        ("all usage", Object::new(T::ChatUsage)),
    ]);
    World { subjects, objects }
}

struct Row<'a> {
    line: &'a str,
    subject: &'a str,
    object: &'a str,
    action: Action,
    allowed: bool,
}

fn rows() -> Vec<Row<'static>> {
    TABLE
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 4, "malformed row: {line}");
            Row {
                line,
                subject: cells[0],
                object: cells[1],
                action: Action::parse(cells[2]).unwrap_or_else(|| panic!("bad action: {line}")),
                allowed: match cells[3] {
                    "allowed" => true,
                    "denied" => false,
                    other => panic!("expected allowed/denied, got {other}: {line}"),
                },
            }
        })
        .collect()
}

#[test]
fn golden_table() {
    let w = world();
    let mut failures = Vec::new();
    for row in rows() {
        let subject = &w.subjects[row.subject];
        let object = &w.objects[row.object];
        let got = subject.authorize(row.action, object);
        if got.is_ok() != row.allowed {
            failures.push(format!("{}  (got {:?})", row.line, got));
        }
        // The list filter must give the same answer for the same row.
        let listed = prepare(subject, row.action, object.rtype).matches(object.org, object.owner);
        if listed != row.allowed {
            failures.push(format!("{}  (prepare disagrees: {listed})", row.line));
        }
    }
    assert!(failures.is_empty(), "rows that failed:\n{}", failures.join("\n"));
}

#[test]
fn every_declared_pair_is_covered() {
    let w = world();
    let covered: BTreeSet<(ResourceType, Action)> =
        rows().iter().map(|r| (w.objects[r.object].rtype, r.action)).collect();
    let missing: Vec<String> = ResourceType::ALL
        .into_iter()
        .flat_map(|t| t.actions().iter().map(move |a| (t, a)))
        .filter(|pair| !covered.contains(pair))
        .map(|(t, a)| format!("{t}.{a}"))
        .collect();
    assert!(missing.is_empty(), "no golden row covers: {}", missing.join(", "));
}

#[test]
fn every_row_names_a_known_subject_object_and_declared_action() {
    let w = world();
    for row in rows() {
        assert!(w.subjects.contains_key(row.subject), "unknown subject: {}", row.line);
        let object = w.objects.get(row.object).unwrap_or_else(|| panic!("unknown object: {}", row.line));
        assert!(object.rtype.actions().contains(row.action), "undeclared action: {}", row.line);
    }
}

#[test]
fn start_ai_work_is_chat_create_owned_by_me_in_the_org() {
    let (me, o, p, q) = (Uuid::from_u128(1), Uuid::from_u128(10), Uuid::from_u128(20), Uuid::from_u128(30));
    let s = Subject::new(me)
        .with_org(o, &[OrgRole::AgentsAccess])
        .with_org(p, &[])
        .with_org(q, &[OrgRole::OrganizationAdmin]);
    let mut permitted = s.permitted_orgs(Action::Create, ResourceType::Chat, [o, p, q, Uuid::from_u128(40)]);
    permitted.sort();
    assert_eq!(permitted, vec![o, q]);
    // A site owner starts AI work only where they are a member.
    let owner = Subject::new(me).with_site_role(SiteRole::Owner).with_org(o, &[]);
    assert_eq!(owner.permitted_orgs(Action::Create, ResourceType::Chat, [o, p]), vec![o]);
}
