//! Level semantics on their own, with custom roles so each test isolates one rule.

use agentry_rbac::{
    Action, Denial, Object, OrgRole, PermSet, ResourceType, Role, SiteRole, Subject, prepare,
};
use uuid::Uuid;

const ME: Uuid = Uuid::from_u128(1);
const O: Uuid = Uuid::from_u128(10);
const P: Uuid = Uuid::from_u128(20);

static MEMBER_GRANT: Role =
    Role::new("member-grant").member(PermSet::EMPTY.allow(ResourceType::Workspace, &[Action::Create]));
static ORG_NEGATION: Role =
    Role::new("org-negation").org(PermSet::EMPTY.deny(ResourceType::Workspace, &[Action::Create]));
static SITE_GRANT: Role =
    Role::new("site-grant").site(PermSet::EMPTY.allow(ResourceType::Workspace, &[Action::Create]));
static SITE_NEGATION: Role =
    Role::new("site-negation").site(PermSet::EMPTY.deny(ResourceType::Chat, &[Action::Read]));
static USER_GRANT: Role =
    Role::new("user-grant").user(PermSet::EMPTY.allow(ResourceType::Chat, &[Action::Read]));

fn my_workspace_in(org: Uuid) -> Object {
    Object::new(ResourceType::Workspace).owned_by(ME).in_org(org)
}

/// Asserts `authorize` and the prepared filter agree, then returns the decision.
fn decide(s: &Subject, a: Action, o: &Object) -> Result<(), Denial> {
    let got = s.authorize(a, o);
    assert_eq!(prepare(s, a, o.rtype).matches(o.org, o.owner), got.is_ok(), "filter disagrees for {o:?}");
    got
}

#[test]
fn org_negation_beats_a_member_grant_in_that_org() {
    let s = Subject::bare(ME).with_custom_org_role(O, &MEMBER_GRANT).with_custom_org_role(O, &ORG_NEGATION);
    assert_eq!(decide(&s, Action::Create, &my_workspace_in(O)), Err(Denial::OrgNegated));
    // Without the negation the member grant applies.
    let s = Subject::bare(ME).with_custom_org_role(O, &MEMBER_GRANT);
    assert_eq!(decide(&s, Action::Create, &my_workspace_in(O)), Ok(()));
}

#[test]
fn org_negation_applies_only_in_its_own_org() {
    let s = Subject::bare(ME)
        .with_custom_org_role(O, &MEMBER_GRANT)
        .with_custom_org_role(P, &MEMBER_GRANT)
        .with_custom_org_role(O, &ORG_NEGATION);
    assert!(decide(&s, Action::Create, &my_workspace_in(O)).is_err());
    assert_eq!(decide(&s, Action::Create, &my_workspace_in(P)), Ok(()));
}

#[test]
fn org_negation_does_not_beat_a_site_grant() {
    let s = Subject::bare(ME).with_custom_site_role(&SITE_GRANT).with_custom_org_role(O, &ORG_NEGATION);
    assert_eq!(decide(&s, Action::Create, &my_workspace_in(O)), Ok(()));
}

#[test]
fn site_negation_beats_everything() {
    let chat_in_o = Object::new(ResourceType::Chat).owned_by(ME).in_org(O);
    let chat_without_org = Object::new(ResourceType::Chat).owned_by(ME);
    let s = Subject::new(ME)
        .with_site_role(SiteRole::Owner)
        .with_org(O, &[OrgRole::OrganizationAdmin, OrgRole::AgentsAccess])
        .with_custom_site_role(&USER_GRANT)
        .with_custom_site_role(&SITE_NEGATION);
    assert_eq!(decide(&s, Action::Read, &chat_in_o), Err(Denial::SiteNegated));
    assert_eq!(decide(&s, Action::Read, &chat_without_org), Err(Denial::SiteNegated));
    // Other actions are untouched.
    assert_eq!(decide(&s, Action::Update, &chat_in_o), Ok(()));
}

#[test]
fn user_level_grants_never_apply_to_objects_with_an_org() {
    let s = Subject::bare(ME).with_custom_site_role(&USER_GRANT).with_org(O, &[]);
    let mine_without_org = Object::new(ResourceType::Chat).owned_by(ME);
    assert_eq!(decide(&s, Action::Read, &mine_without_org), Ok(()));
    // The same grant does nothing for the same owner once the object has an organization
    // (the organization-member role held here does not grant chat read at org level).
    let other_chat_in_o = Object::new(ResourceType::Chat).owned_by(Uuid::from_u128(2)).in_org(O);
    assert_eq!(decide(&s, Action::Read, &other_chat_in_o), Err(Denial::NoGrant));
    let mine_in_p = Object::new(ResourceType::Chat).owned_by(ME).in_org(P);
    assert_eq!(decide(&s, Action::Read, &mine_in_p), Err(Denial::NotMember));
    // And it never reaches objects someone else owns.
    let theirs = Object::new(ResourceType::Chat).owned_by(Uuid::from_u128(2));
    assert_eq!(decide(&s, Action::Read, &theirs), Err(Denial::NoGrant));
}

#[test]
fn nothing_in_an_org_the_subject_is_not_member_of() {
    // Every org role held in O (and no site role); ask about objects in P for every declared
    // pair. Only the site-level permission some org roles carry (user read) may answer.
    let s = Subject::bare(ME).with_org(O, &OrgRole::ASSIGNABLE);
    for t in ResourceType::ALL {
        for a in t.actions().iter() {
            for owner in [Some(ME), None] {
                let obj = Object { rtype: t, id: None, owner, org: Some(P) };
                let expected = t == ResourceType::User && a == Action::Read;
                assert_eq!(decide(&s, a, &obj).is_ok(), expected, "{t}.{a} owner={owner:?}");
                if !expected {
                    assert_eq!(s.authorize(a, &obj), Err(Denial::NotMember), "{t}.{a}");
                }
            }
        }
    }
}

#[test]
fn undeclared_actions_and_scopes_deny() {
    let owner = Subject::new(ME).with_site_role(SiteRole::Owner);
    let log = Object::new(ResourceType::AuditLog);
    assert!(matches!(owner.authorize(Action::Delete, &log), Err(Denial::UndeclaredAction { .. })));
    let scoped = owner.clone().with_scope(PermSet::EMPTY.allow(ResourceType::Chat, &[Action::Read]));
    let chat = Object::new(ResourceType::Chat).in_org(O);
    assert_eq!(decide(&scoped, Action::Read, &chat), Ok(()));
    assert_eq!(decide(&scoped, Action::Update, &chat), Err(Denial::OutOfScope));
    // A scope never widens: a member scoped to everything still cannot read others' chats.
    let wide = PermSet::EMPTY.allow_all(ResourceType::Chat);
    let member = Subject::new(ME).with_org(O, &[]).with_scope(wide);
    assert_eq!(decide(&member, Action::Read, &chat), Err(Denial::NoGrant));
}
