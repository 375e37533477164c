//! Table test of the integration lifecycle (DESIGN §4): every reachable (state, event) pair.
//!
//! States are enumerated over phase × switch × health × deactivated × deleted, for every
//! combination of channel rules and for a handful of feature/label configurations, and each one is
//! built only through the public transitions. Every [`Event`] is then applied to a copy of each
//! state, and the outcome is compared with an independently written decision table ([`decide`]):
//! the rules of DESIGN §4 restated here as guard lists and a small match per event, never computed
//! by calling the code under test.
//!
//! For every pair the test asserts:
//! - `Ok` vs the exact [`LifecycleError`];
//! - on success: the exact audit events (each carrying the context's actor and time, and the
//!   support override when one was given), and the resulting phase, switch, health, features,
//!   label, deactivation and tombstone;
//! - a no-op returns no events and leaves the lifecycle equal to what it was;
//! - a failure leaves the lifecycle equal to what it was;
//! - data exchange (`check_exchange` / `check_feature`) is allowed exactly when DESIGN §4 says so.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use marketsync_core::lifecycle::{
    Actor, AuditEvent, Blocked, Change, ChannelRules, Context, DEFAULT_TESTING_DAYS, Event,
    Feature, Features, Health, HealthKind, Lifecycle, LifecycleError, MAX_TESTING_DAYS, Phase,
    SupportOverride, Switch,
};
use marketsync_core::{BrokenReason, Label, Management};

// ----- fixed points in time -----

/// When every integration of the table is created, verified, configured and activated.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap()
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

fn builder() -> Actor {
    Actor::User("builder".to_owned())
}

/// The actor of the events under test (different from the builder's, so a wrong actor shows).
fn tester() -> Actor {
    Actor::Support("tess".to_owned())
}

fn complete_override() -> SupportOverride {
    SupportOverride::new("sam from support", "seller asked by phone, ticket 42")
}

// ----- the state axes -----

/// The phase axis. `LiveUnticked` is a Testing integration whose testing period has elapsed
/// without anything having recorded it yet: the event under test is the first to see the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PhaseAxis {
    Setup,
    Testing,
    LiveUnticked,
    Live,
}

/// Feature switches and label, configured in Setup (where every setting may change freely).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    /// As created: no label, only fulfilments on.
    Fresh,
    /// Label "alpha", default features.
    Labeled,
    /// Label "alpha", listings on.
    ListingsOn,
    /// Label "alpha", listings, reconciler and orders on; reconciler plan not confirmed.
    Reconciling,
    /// As `Reconciling`, with the plan confirmed.
    ReconcilingConfirmed,
    /// No label, orders on, fulfilments off.
    FulfillmentsOff,
}

const CONFIGS: [Config; 6] = [
    Config::Fresh,
    Config::Labeled,
    Config::ListingsOn,
    Config::Reconciling,
    Config::ReconcilingConfirmed,
    Config::FulfillmentsOff,
];

#[derive(Clone, Copy, Debug)]
struct Spec {
    rules: ChannelRules,
    config: Config,
    phase: PhaseAxis,
    switch: Switch,
    health: HealthKind,
    deactivated: bool,
    deleted: bool,
}

impl Spec {
    /// When the switch/health/deactivation/deletion steps of the build happen.
    fn state_time(&self) -> DateTime<Utc> {
        match self.phase {
            PhaseAxis::Setup | PhaseAxis::Testing | PhaseAxis::LiveUnticked => t0() + days(1),
            PhaseAxis::Live => t0() + days(31),
        }
    }

    /// When the event under test happens. `LiveUnticked` is exactly the end of the 30-day testing
    /// period: Live begins at that instant.
    fn event_time(&self) -> DateTime<Utc> {
        match self.phase {
            PhaseAxis::Setup | PhaseAxis::Testing => t0() + days(2),
            PhaseAxis::LiveUnticked => t0() + days(i64::from(DEFAULT_TESTING_DAYS)),
            PhaseAxis::Live => t0() + days(40),
        }
    }

    /// Why this combination cannot be built through the public transitions, if it cannot.
    fn unreachable(&self) -> Option<&'static str> {
        if self.deactivated && !self.rules.login_authorization {
            // deactivate() is the repair of login-type credentials only: NotLoginType otherwise.
            return Some("deactivated needs a login-type channel");
        }
        if self.deactivated && self.health != HealthKind::Unverified {
            // deactivate() drops the session (health becomes Unverified), and while deactivated
            // credentials_entered, rotate_credentials, verification_succeeded and mark_broken are
            // all refused with Deactivated, so a deactivated integration is always Unverified.
            return Some("a deactivated integration is always Unverified");
        }
        if matches!(
            self.config,
            Config::Reconciling | Config::ReconcilingConfirmed
        ) && !self.rules.reconcile_supported
        {
            // Turning the reconciler on is refused with ReconcilerUnsupported.
            return Some("the reconciler needs a channel that supports reconciliation");
        }
        if self.config == Config::FulfillmentsOff && self.rules.fulfillment_required {
            // Turning fulfilments off is refused with FulfillmentRequired.
            return Some("fulfilments cannot be off where the channel requires them");
        }
        None
    }
}

fn all_rules() -> Vec<ChannelRules> {
    let mut v = Vec::new();
    for login_authorization in [false, true] {
        for reconcile_supported in [false, true] {
            for fulfillment_required in [false, true] {
                v.push(ChannelRules {
                    reconcile_supported,
                    fulfillment_required,
                    login_authorization,
                });
            }
        }
    }
    v
}

/// Every combination of the axes, reachable or not.
fn all_specs() -> Vec<Spec> {
    let mut v = Vec::new();
    for rules in all_rules() {
        for config in CONFIGS {
            for phase in [
                PhaseAxis::Setup,
                PhaseAxis::Testing,
                PhaseAxis::LiveUnticked,
                PhaseAxis::Live,
            ] {
                for switch in [Switch::Enabled, Switch::Disabled] {
                    for health in [
                        HealthKind::Unverified,
                        HealthKind::Healthy,
                        HealthKind::Broken,
                    ] {
                        for deactivated in [false, true] {
                            for deleted in [false, true] {
                                v.push(Spec {
                                    rules,
                                    config,
                                    phase,
                                    switch,
                                    health,
                                    deactivated,
                                    deleted,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    v
}

// ----- building a state through the public transitions -----

fn ok(outcome: Result<Vec<AuditEvent>, LifecycleError>, step: &str, spec: &Spec) {
    if let Err(e) = outcome {
        panic!("building {spec:?}: step {step} failed: {e:?}");
    }
}

fn build(spec: &Spec) -> Lifecycle {
    let at0 = Context::at(builder(), t0());
    let (mut lc, created) = Lifecycle::create(spec.rules, &at0);
    assert_eq!(created.change, Change::Created);
    assert_eq!(created.actor, builder());
    assert_eq!(created.at, t0());

    ok(lc.credentials_entered(&at0), "credentials_entered", spec);
    ok(
        lc.verification_succeeded(&at0),
        "verification_succeeded",
        spec,
    );

    let alpha = Some(label("alpha"));
    match spec.config {
        Config::Fresh => {}
        Config::Labeled => ok(lc.set_label(&at0, alpha, None), "label", spec),
        Config::ListingsOn => {
            ok(lc.set_label(&at0, alpha, None), "label", spec);
            ok(
                lc.set_feature(&at0, Feature::Listings, true, None),
                "listings on",
                spec,
            );
        }
        Config::Reconciling | Config::ReconcilingConfirmed => {
            ok(lc.set_label(&at0, alpha, None), "label", spec);
            ok(
                lc.set_feature(&at0, Feature::Listings, true, None),
                "listings on",
                spec,
            );
            ok(
                lc.set_feature(&at0, Feature::Reconciler, true, None),
                "reconciler on",
                spec,
            );
            ok(
                lc.set_feature(&at0, Feature::Orders, true, None),
                "orders on",
                spec,
            );
            if spec.config == Config::ReconcilingConfirmed {
                ok(lc.confirm_reconcile_plan(&at0), "confirm plan", spec);
            }
        }
        Config::FulfillmentsOff => {
            ok(
                lc.set_feature(&at0, Feature::Orders, true, None),
                "orders on",
                spec,
            );
            ok(
                lc.set_feature(&at0, Feature::Fulfillments, false, None),
                "fulfilments off",
                spec,
            );
        }
    }

    if spec.phase != PhaseAxis::Setup {
        ok(lc.activate(&at0), "activate", spec);
    }

    let at = Context::at(builder(), spec.state_time());
    if spec.phase == PhaseAxis::Live {
        assert_eq!(lc.tick(at.at).len(), 1, "building {spec:?}: tick to Live");
    }
    if spec.switch == Switch::Disabled {
        ok(lc.disable(&at), "disable", spec);
    }
    match spec.health {
        HealthKind::Healthy => {}
        HealthKind::Unverified => ok(lc.credentials_entered(&at), "credentials", spec),
        HealthKind::Broken => ok(
            lc.mark_broken(
                &at,
                BrokenReason::CredentialsRejected,
                Some("401 invalid token".to_owned()),
            ),
            "mark_broken",
            spec,
        ),
    }
    if spec.deactivated {
        ok(lc.deactivate(&at), "deactivate", spec);
    }
    if spec.deleted {
        let plan = lc.plan_delete(Vec::new(), at.at).unwrap();
        ok(lc.delete(&at, plan.confirm()), "delete", spec);
    }
    lc
}

// ----- the expected state, written from the spec -----

/// Everything observable about a lifecycle, as the table expects it.
#[derive(Clone, Debug, PartialEq)]
struct St {
    rules: ChannelRules,
    /// The phase as recorded (not yet ticked = still Testing).
    phase: Phase,
    started: Option<DateTime<Utc>>,
    testing_days: u32,
    switch: Switch,
    health: HealthKind,
    /// (reason, since, channel message) while broken.
    broken: Option<(BrokenReason, DateTime<Utc>, Option<String>)>,
    features: Features,
    label: Option<Label>,
    deactivated: bool,
    plan_confirmed: bool,
    /// (when, by whom) once deleted.
    deleted: Option<(DateTime<Utc>, Actor)>,
}

impl St {
    fn live_at(&self) -> Option<DateTime<Utc>> {
        self.started.map(|s| s + days(i64::from(self.testing_days)))
    }

    /// The phase at `now`: Testing has become Live once the period has elapsed.
    fn phase_at(&self, now: DateTime<Utc>) -> Phase {
        match (self.phase, self.live_at()) {
            (Phase::Testing, Some(live)) if now >= live => Phase::Live,
            (p, _) => p,
        }
    }

    /// DESIGN §4: data flows only in Testing or Live, Enabled, Healthy, not deactivated, not
    /// deleted.
    fn exchange_allowed(&self, now: DateTime<Utc>) -> bool {
        self.deleted.is_none()
            && matches!(self.phase_at(now), Phase::Testing | Phase::Live)
            && self.switch == Switch::Enabled
            && self.health == HealthKind::Healthy
            && !self.deactivated
    }

    /// Why data may not flow: the first reason, in the order deleted, setup, disabled,
    /// deactivated, health.
    fn blocked(&self, now: DateTime<Utc>) -> Option<Blocked> {
        let reasons = [
            (self.deleted.is_some(), Blocked::Deleted),
            (self.phase_at(now) == Phase::Setup, Blocked::Setup),
            (self.switch == Switch::Disabled, Blocked::Disabled),
            (self.deactivated, Blocked::Deactivated),
            (self.health == HealthKind::Unverified, Blocked::Unverified),
        ];
        if let Some((_, b)) = reasons.into_iter().find(|(blocked, _)| *blocked) {
            return Some(b);
        }
        self.broken
            .as_ref()
            .map(|(reason, _, channel_message)| Blocked::Broken {
                reason: *reason,
                channel_message: channel_message.clone(),
            })
    }
}

fn features(listings: bool, reconciler: bool, orders: bool, fulfillments: bool) -> Features {
    Features {
        listings,
        reconciler,
        orders,
        fulfillments,
    }
}

fn expected_state(spec: &Spec) -> St {
    let (features, label, plan_confirmed) = match spec.config {
        Config::Fresh => (features(false, false, false, true), None, false),
        Config::Labeled => (
            features(false, false, false, true),
            Some(label("alpha")),
            false,
        ),
        Config::ListingsOn => (
            features(true, false, false, true),
            Some(label("alpha")),
            false,
        ),
        Config::Reconciling => (
            features(true, true, true, true),
            Some(label("alpha")),
            false,
        ),
        Config::ReconcilingConfirmed => {
            (features(true, true, true, true), Some(label("alpha")), true)
        }
        Config::FulfillmentsOff => (features(false, false, true, false), None, false),
    };
    let (phase, started) = match spec.phase {
        PhaseAxis::Setup => (Phase::Setup, None),
        PhaseAxis::Testing | PhaseAxis::LiveUnticked => (Phase::Testing, Some(t0())),
        PhaseAxis::Live => (Phase::Live, Some(t0())),
    };
    let broken = (spec.health == HealthKind::Broken).then(|| {
        (
            BrokenReason::CredentialsRejected,
            spec.state_time(),
            Some("401 invalid token".to_owned()),
        )
    });
    St {
        rules: spec.rules,
        phase,
        started,
        testing_days: DEFAULT_TESTING_DAYS,
        switch: spec.switch,
        health: spec.health,
        broken,
        features,
        label,
        deactivated: spec.deactivated,
        plan_confirmed,
        deleted: spec.deleted.then(|| (spec.state_time(), builder())),
    }
}

// ----- the events -----

fn overrides() -> [Option<SupportOverride>; 4] {
    [
        None,
        Some(complete_override()),
        // Incomplete: no one named.
        Some(SupportOverride::new("", "because")),
        // Incomplete: no reason (blank).
        Some(SupportOverride::new("sam", "   ")),
    ]
}

/// Every variant of [`Event`], with the interesting parameters.
fn all_events() -> Vec<Event> {
    let mut v = vec![
        Event::CredentialsEntered,
        Event::RotateCredentials,
        Event::VerificationSucceeded,
        Event::MarkBroken {
            reason: BrokenReason::LoginRequired,
            channel_message: Some("session expired".to_owned()),
        },
        Event::MarkBroken {
            reason: BrokenReason::AccountNotUsable,
            channel_message: None,
        },
        Event::Activate,
        Event::SetTestingPeriod { days: 0 },
        Event::SetTestingPeriod { days: 1 },
        Event::SetTestingPeriod {
            days: DEFAULT_TESTING_DAYS,
        },
        Event::SetTestingPeriod { days: 90 },
        Event::SetTestingPeriod {
            days: MAX_TESTING_DAYS,
        },
        Event::SetTestingPeriod {
            days: MAX_TESTING_DAYS + 1,
        },
        Event::SetTestingPeriod { days: u32::MAX },
        Event::Enable,
        Event::Disable,
        Event::Deactivate,
        Event::Reactivate,
        Event::ConfirmReconcilePlan,
        delete_event(),
        Event::Tick,
    ];
    for feature in Feature::ALL {
        for on in [false, true] {
            for support_override in overrides() {
                v.push(Event::SetFeature {
                    feature,
                    on,
                    support_override,
                });
            }
        }
    }
    for l in [None, Some(label("alpha")), Some(label("beta"))] {
        for support_override in overrides() {
            v.push(Event::SetLabel {
                label: l.clone(),
                support_override,
            });
        }
    }
    v
}

// ----- the decision table (DESIGN §4, written independently of lifecycle.rs) -----

fn audit(ctx: &Context, change: Change, support_override: Option<SupportOverride>) -> AuditEvent {
    AuditEvent {
        at: ctx.at,
        actor: ctx.actor.clone(),
        change,
        support_override,
    }
}

/// The first guard that holds decides the error.
fn first_failing(guards: &[(bool, LifecycleError)]) -> Result<(), LifecycleError> {
    match guards.iter().find(|(refused, _)| *refused) {
        Some((_, e)) => Err(e.clone()),
        None => Ok(()),
    }
}

fn override_is_complete(o: &SupportOverride) -> bool {
    !o.by.trim().is_empty() && !o.reason.trim().is_empty()
}

/// The Live override rule: an override that is given must name who and why; in Live a change
/// that is not free needs one.
fn override_rule(
    actor: &Actor,
    phase: Phase,
    free_in_live: bool,
    support_override: &Option<SupportOverride>,
    change: String,
) -> Result<(), LifecycleError> {
    first_failing(&[
        (
            support_override
                .as_ref()
                .is_some_and(|o| !override_is_complete(o)),
            LifecycleError::IncompleteOverride,
        ),
        // Only support may give an override.
        (
            support_override.is_some() && !matches!(actor, Actor::Support(_)),
            LifecycleError::SupportOnly {
                change: change.clone(),
            },
        ),
        (
            phase == Phase::Live && !free_in_live && support_override.is_none(),
            LifecycleError::OverrideRequired { change },
        ),
    ])
}

fn feature_name(f: Feature) -> &'static str {
    match f {
        Feature::Listings => "listings",
        Feature::Reconciler => "reconciler",
        Feature::Orders => "orders",
        Feature::Fulfillments => "fulfillments",
    }
}

fn feature_mut(fs: &mut Features, f: Feature) -> &mut bool {
    match f {
        Feature::Listings => &mut fs.listings,
        Feature::Reconciler => &mut fs.reconciler,
        Feature::Orders => &mut fs.orders,
        Feature::Fulfillments => &mut fs.fulfillments,
    }
}

fn feature_of(fs: Features, f: Feature) -> bool {
    let mut fs = fs;
    *feature_mut(&mut fs, f)
}

/// The passing of time: Testing → Live once the period has elapsed, recorded by the system at the
/// moment it happened.
fn tick(s: &mut St, now: DateTime<Utc>, out: &mut Vec<AuditEvent>) {
    if s.phase == Phase::Testing
        && let Some(live) = s.live_at()
        && now >= live
    {
        s.phase = Phase::Live;
        out.push(AuditEvent {
            at: live,
            actor: Actor::System,
            change: Change::PhaseChanged {
                from: Phase::Testing,
                to: Phase::Live,
            },
            support_override: None,
        });
    }
}

fn set_health(s: &mut St, ctx: &Context, to: HealthKind, out: &mut Vec<AuditEvent>) {
    if s.health != to {
        out.push(audit(
            ctx,
            Change::HealthChanged {
                from: s.health,
                to,
                reason: None,
                channel_message: None,
            },
            None,
        ));
        s.health = to;
        s.broken = None;
    }
}

/// What the transition must do: the state after the passing of time, the final state and the
/// exact audit events; or the exact error.
struct Decision {
    ticked: St,
    after: St,
    events: Vec<AuditEvent>,
}

fn decide(before: &St, ev: &Event, ctx: &Context) -> Result<Decision, LifecycleError> {
    // Deleted is terminal.
    first_failing(&[(before.deleted.is_some(), LifecycleError::Deleted)])?;
    let mut s = before.clone();
    let mut out = Vec::new();
    tick(&mut s, ctx.at, &mut out);
    let ticked = s.clone();

    match ev {
        Event::CredentialsEntered | Event::RotateCredentials => {
            first_failing(&[(s.deactivated, LifecycleError::Deactivated)])?;
            let change = if *ev == Event::CredentialsEntered {
                Change::CredentialsEntered
            } else {
                Change::CredentialsRotated
            };
            out.push(audit(ctx, change, None));
            set_health(&mut s, ctx, HealthKind::Unverified, &mut out);
        }
        Event::VerificationSucceeded => {
            first_failing(&[(s.deactivated, LifecycleError::Deactivated)])?;
            set_health(&mut s, ctx, HealthKind::Healthy, &mut out);
        }
        Event::MarkBroken {
            reason,
            channel_message,
        } => {
            first_failing(&[(s.deactivated, LifecycleError::Deactivated)])?;
            // Already broken: reported once, nothing changes.
            if s.health != HealthKind::Broken {
                out.push(audit(
                    ctx,
                    Change::HealthChanged {
                        from: s.health,
                        to: HealthKind::Broken,
                        reason: Some(*reason),
                        channel_message: channel_message.clone(),
                    },
                    None,
                ));
                s.health = HealthKind::Broken;
                s.broken = Some((*reason, ctx.at, channel_message.clone()));
            }
        }
        Event::Activate => {
            first_failing(&[
                (
                    s.phase != Phase::Setup,
                    LifecycleError::AlreadyActive(s.phase),
                ),
                (s.deactivated, LifecycleError::Deactivated),
                (s.health != HealthKind::Healthy, LifecycleError::NotVerified),
            ])?;
            s.phase = Phase::Testing;
            s.started = Some(ctx.at);
            out.push(audit(
                ctx,
                Change::PhaseChanged {
                    from: Phase::Setup,
                    to: Phase::Testing,
                },
                None,
            ));
            tick(&mut s, ctx.at, &mut out);
        }
        Event::SetTestingPeriod { days } => {
            first_failing(&[
                (s.phase == Phase::Live, LifecycleError::AlreadyLive),
                (
                    *days > MAX_TESTING_DAYS,
                    LifecycleError::InvalidTestingPeriod(*days),
                ),
            ])?;
            if s.testing_days != *days {
                s.testing_days = *days;
                out.push(audit(ctx, Change::TestingPeriodSet { days: *days }, None));
                tick(&mut s, ctx.at, &mut out);
            }
        }
        Event::Enable | Event::Disable => {
            let to = if *ev == Event::Enable {
                Switch::Enabled
            } else {
                Switch::Disabled
            };
            if s.switch != to {
                s.switch = to;
                out.push(audit(ctx, Change::SwitchChanged { to }, None));
            }
        }
        Event::SetFeature {
            feature,
            on,
            support_override,
        } => {
            let (f, on) = (*feature, *on);
            if feature_of(s.features, f) != on {
                first_failing(&[
                    (
                        f == Feature::Reconciler && on && !s.rules.reconcile_supported,
                        LifecycleError::ReconcilerUnsupported,
                    ),
                    (
                        f == Feature::Reconciler && on && !s.features.listings,
                        LifecycleError::ReconcilerNeedsListings,
                    ),
                    (
                        f == Feature::Listings && !on && s.features.reconciler,
                        LifecycleError::ListingsNeededByReconciler,
                    ),
                    (
                        f == Feature::Listings && on && s.label.is_none(),
                        LifecycleError::LabelRequired,
                    ),
                    (
                        f == Feature::Fulfillments && !on && s.rules.fulfillment_required,
                        LifecycleError::FulfillmentRequired,
                    ),
                ])?;
                // In Live only turning the reconciler or fulfilments on is free.
                let free_in_live = on && matches!(f, Feature::Reconciler | Feature::Fulfillments);
                override_rule(
                    &ctx.actor,
                    s.phase,
                    free_in_live,
                    support_override,
                    format!(
                        "turning {} {}",
                        feature_name(f),
                        if on { "on" } else { "off" }
                    ),
                )?;
                *feature_mut(&mut s.features, f) = on;
                if f == Feature::Reconciler {
                    // Switching the reconciler (on or off) re-arms the dry run.
                    s.plan_confirmed = false;
                }
                out.push(audit(
                    ctx,
                    Change::FeatureChanged { feature: f, on },
                    support_override.clone(),
                ));
            }
        }
        Event::SetLabel {
            label,
            support_override,
        } => {
            if s.label != *label {
                first_failing(&[(
                    label.is_none() && s.features.listings,
                    LifecycleError::LabelRequired,
                )])?;
                override_rule(
                    &ctx.actor,
                    s.phase,
                    false,
                    support_override,
                    "changing the label".to_owned(),
                )?;
                out.push(audit(
                    ctx,
                    Change::LabelChanged {
                        from: s.label.clone(),
                        to: label.clone(),
                    },
                    support_override.clone(),
                ));
                s.label = label.clone();
                // A label change re-arms the reconciler's dry run.
                s.plan_confirmed = false;
            }
        }
        Event::Deactivate => {
            first_failing(&[
                (!s.rules.login_authorization, LifecycleError::NotLoginType),
                (s.deactivated, LifecycleError::Deactivated),
            ])?;
            s.deactivated = true;
            out.push(audit(ctx, Change::Deactivated, None));
            set_health(&mut s, ctx, HealthKind::Unverified, &mut out);
        }
        Event::Reactivate => {
            first_failing(&[(!s.deactivated, LifecycleError::NotDeactivated)])?;
            s.deactivated = false;
            out.push(audit(ctx, Change::Reactivated, None));
        }
        Event::ConfirmReconcilePlan => {
            first_failing(&[(!s.features.reconciler, LifecycleError::ReconcilerOff)])?;
            if !s.plan_confirmed {
                s.plan_confirmed = true;
                out.push(audit(ctx, Change::ReconcilePlanConfirmed, None));
            }
        }
        Event::Delete { .. } => {
            s.deleted = Some((ctx.at, ctx.actor.clone()));
            out.push(audit(
                ctx,
                Change::Deleted {
                    unfulfilled_orders: Vec::new(),
                },
                None,
            ));
        }
        Event::Tick => {}
        other => panic!("the table has no row for {other:?}: add one"),
    }
    Ok(Decision {
        ticked,
        after: s,
        events: out,
    })
}

// ----- comparing the real lifecycle with the table -----

fn assert_observable(lc: &Lifecycle, s: &St, now: DateTime<Utc>, what: &str) {
    assert_eq!(lc.rules(), s.rules, "{what}: rules");
    assert_eq!(lc.recorded_phase(), s.phase, "{what}: recorded phase");
    assert_eq!(lc.phase(now), s.phase_at(now), "{what}: phase at now");
    assert_eq!(lc.testing_started_at(), s.started, "{what}: testing start");
    assert_eq!(
        lc.testing_period(),
        days(i64::from(s.testing_days)),
        "{what}: testing period"
    );
    assert_eq!(lc.live_at(), s.live_at(), "{what}: live at");
    assert_eq!(lc.switch(), s.switch, "{what}: switch");
    assert_eq!(lc.health().kind(), s.health, "{what}: health");
    match (lc.health(), &s.broken) {
        (
            Health::Broken {
                reason,
                since,
                channel_message,
            },
            Some((r, t, m)),
        ) => {
            assert_eq!(
                (reason, since, channel_message),
                (r, t, m),
                "{what}: broken"
            );
        }
        (Health::Broken { .. }, None) => panic!("{what}: broken without expected details"),
        _ => assert!(s.broken.is_none(), "{what}: details of a non-broken health"),
    }
    assert_eq!(lc.features(), s.features, "{what}: features");
    assert_eq!(lc.label(), s.label.as_ref(), "{what}: label");
    assert_eq!(lc.is_deactivated(), s.deactivated, "{what}: deactivated");
    assert_eq!(
        lc.reconcile_plan_confirmed(),
        s.plan_confirmed,
        "{what}: plan confirmed"
    );
    assert_eq!(lc.is_deleted(), s.deleted.is_some(), "{what}: deleted");
    assert_eq!(
        lc.tombstone().map(|t| (t.at, t.by.clone())),
        s.deleted,
        "{what}: tombstone"
    );
    assert_eq!(
        lc.management(),
        if s.features.fulfillments {
            Management::Managed
        } else {
            Management::ThirdPartyManaged
        },
        "{what}: management"
    );

    // Invariants of DESIGN §4 that hold in every reachable state.
    if s.rules.fulfillment_required {
        assert!(
            s.features.fulfillments,
            "{what}: fulfilments off where required"
        );
    }
    if s.features.reconciler {
        assert!(
            s.rules.reconcile_supported && s.features.listings,
            "{what}: reconciler on without support or listings"
        );
    }
    if s.features.listings {
        assert!(s.label.is_some(), "{what}: listings on without a label");
    }

    let allowed = s.exchange_allowed(now);
    assert_eq!(
        allowed,
        s.blocked(now).is_none(),
        "{what}: table inconsistent"
    );
    assert_eq!(
        lc.check_exchange(now).err(),
        s.blocked(now),
        "{what}: check_exchange"
    );
    for f in Feature::ALL {
        let want = match s.blocked(now) {
            Some(b) => Err(b),
            None if feature_of(s.features, f) => Ok(()),
            None => Err(Blocked::FeatureOff(f)),
        };
        assert_eq!(
            lc.check_feature(f, now),
            want,
            "{what}: check_feature({f:?})"
        );
    }
}

fn given_override(ev: &Event) -> Option<&SupportOverride> {
    match ev {
        Event::SetFeature {
            support_override, ..
        }
        | Event::SetLabel {
            support_override, ..
        } => support_override.as_ref(),
        _ => None,
    }
}

#[derive(Default, Debug)]
struct Counts {
    states: usize,
    skipped: usize,
    pairs: usize,
    ok_changed: usize,
    ok_noop: usize,
    errors: usize,
}

fn run_pair(spec: &Spec, base: &Lifecycle, st: &St, ev: &Event, counts: &mut Counts) {
    let now = spec.event_time();
    let ctx = Context::at(tester(), now);
    let what = format!("{spec:?} + {ev:?}");
    let mut lc = base.clone();
    let got = lc.apply(&ctx, ev.clone());
    let want = decide(st, ev, &ctx);
    counts.pairs += 1;
    match (got, want) {
        (Err(got), Err(want)) => {
            assert_eq!(got, want, "{what}: error");
            assert_eq!(
                &lc, base,
                "{what}: a refused transition changed the lifecycle"
            );
            assert_observable(&lc, st, now, &what);
            counts.errors += 1;
        }
        (Ok(got), Ok(d)) => {
            assert_eq!(got, d.events, "{what}: audit events");
            assert_observable(&lc, &d.after, now, &what);
            if d.after != d.ticked {
                // A change: at least one event by the context's actor, at its time. (Entering or
                // rotating credentials is always recorded, even when health was already
                // Unverified and nothing observable changes.)
                assert!(
                    got.iter().any(|e| e.actor == ctx.actor && e.at == ctx.at),
                    "{what}: change without an event by the actor: {got:?}"
                );
            }
            if got.is_empty() {
                assert_eq!(&lc, base, "{what}: a no-op changed the lifecycle");
                counts.ok_noop += 1;
            } else {
                counts.ok_changed += 1;
            }
            // Events by the system are the passing of time only.
            for e in got.iter().filter(|e| e.actor == Actor::System) {
                assert!(
                    matches!(
                        e.change,
                        Change::PhaseChanged {
                            from: Phase::Testing,
                            to: Phase::Live
                        }
                    ),
                    "{what}: system event {e:?}"
                );
            }
            // A change made under an override carries it.
            if let Some(o) = given_override(ev) {
                for e in got.iter().filter(|e| {
                    matches!(
                        e.change,
                        Change::FeatureChanged { .. } | Change::LabelChanged { .. }
                    )
                }) {
                    assert_eq!(e.support_override.as_ref(), Some(o), "{what}: override");
                }
            }
            // A change in Live that turns a feature off or changes the label carried an override.
            if d.ticked.phase == Phase::Live {
                for e in &got {
                    let needs = match &e.change {
                        Change::FeatureChanged { feature, on } => {
                            !*on || matches!(feature, Feature::Listings | Feature::Orders)
                        }
                        Change::LabelChanged { .. } => true,
                        _ => false,
                    };
                    if needs {
                        assert!(
                            e.support_override.is_some(),
                            "{what}: live change without override"
                        );
                    }
                }
            }
        }
        (got, want) => panic!(
            "{what}: lifecycle gave {got:?}, table says {:?}",
            want.map(|d| d.events)
        ),
    }
}

#[test]
fn every_reachable_state_and_event() {
    let events = all_events();
    let mut counts = Counts::default();
    for spec in all_specs() {
        if spec.unreachable().is_some() {
            counts.skipped += 1;
            continue;
        }
        let base = build(&spec);
        let st = expected_state(&spec);
        assert_observable(&base, &st, spec.state_time(), &format!("built {spec:?}"));
        counts.states += 1;
        for ev in &events {
            run_pair(&spec, &base, &st, ev, &mut counts);
        }
    }
    eprintln!("{counts:?}");
    // 8 rules × 6 configs × 4 phases × 2 switches × 3 healths × 2 deactivated × 2 deleted = 4608
    // combinations, of which these are reachable.
    assert_eq!(counts.states + counts.skipped, 4608);
    assert_eq!(counts.states, 2016);
    assert_eq!(counts.pairs, counts.states * events.len());
    assert!(counts.ok_changed > 0 && counts.ok_noop > 0 && counts.errors > 0);
}

/// The table covers every variant of [`Event`] (by its serialised name).
#[test]
fn the_table_covers_every_event_variant() {
    let mut names: Vec<String> = all_events()
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        [
            "activate",
            "confirm_reconcile_plan",
            "credentials_entered",
            "deactivate",
            "delete",
            "disable",
            "enable",
            "mark_broken",
            "reactivate",
            "rotate_credentials",
            "set_feature",
            "set_label",
            "set_testing_period",
            "tick",
            "verification_succeeded",
        ]
    );
}

/// The unreachable combinations really are unreachable: the transitions that would lead there
/// are refused.
#[test]
fn skipped_combinations_are_refused() {
    let at = Context::at(builder(), t0());
    for rules in all_rules() {
        let (mut lc, _) = Lifecycle::create(rules, &at);
        lc.credentials_entered(&at).unwrap();
        lc.verification_succeeded(&at).unwrap();
        if !rules.login_authorization {
            assert_eq!(lc.deactivate(&at), Err(LifecycleError::NotLoginType));
        } else {
            lc.deactivate(&at).unwrap();
            assert_eq!(lc.health().kind(), HealthKind::Unverified);
            let before = lc.clone();
            assert_eq!(
                lc.verification_succeeded(&at),
                Err(LifecycleError::Deactivated)
            );
            assert_eq!(
                lc.mark_broken(&at, BrokenReason::LoginRequired, None),
                Err(LifecycleError::Deactivated)
            );
            assert_eq!(
                lc.credentials_entered(&at),
                Err(LifecycleError::Deactivated)
            );
            assert_eq!(lc.rotate_credentials(&at), Err(LifecycleError::Deactivated));
            assert_eq!(lc, before);
            lc.reactivate(&at).unwrap();
        }
        lc.set_label(&at, Some(label("alpha")), None).unwrap();
        lc.set_feature(&at, Feature::Listings, true, None).unwrap();
        if !rules.reconcile_supported {
            assert_eq!(
                lc.set_feature(&at, Feature::Reconciler, true, None),
                Err(LifecycleError::ReconcilerUnsupported)
            );
        }
        if rules.fulfillment_required {
            assert_eq!(
                lc.set_feature(&at, Feature::Fulfillments, false, None),
                Err(LifecycleError::FulfillmentRequired)
            );
        }
    }
}

/// Regression: a transition refused after the testing period elapsed used to keep the recorded
/// Testing → Live change while dropping its audit event with the error, so the change was never
/// reported. Now the refusal changes nothing and the next accepted transition reports it.
#[test]
fn a_refused_transition_does_not_swallow_the_live_phase_change() {
    let at = Context::at(builder(), t0());
    let (mut lc, _) = Lifecycle::create(ChannelRules::default(), &at);
    lc.credentials_entered(&at).unwrap();
    lc.verification_succeeded(&at).unwrap();
    lc.activate(&at).unwrap();
    let before = lc.clone();

    let later = Context::at(tester(), t0() + days(40));
    assert_eq!(
        lc.set_testing_period(&later, 10),
        Err(LifecycleError::AlreadyLive)
    );
    assert_eq!(lc, before);
    assert_eq!(lc.recorded_phase(), Phase::Testing);
    assert_eq!(lc.phase(later.at), Phase::Live);

    let live = AuditEvent {
        at: t0() + days(30),
        actor: Actor::System,
        change: Change::PhaseChanged {
            from: Phase::Testing,
            to: Phase::Live,
        },
        support_override: None,
    };
    assert_eq!(lc.enable(&later), Ok(vec![live]));
    assert_eq!(lc.recorded_phase(), Phase::Live);
}

/// A delete with a confirmed plan that lists no orders.
fn delete_event() -> Event {
    Event::Delete {
        confirmation: marketsync_core::lifecycle::DeletePlan {
            unfulfilled_orders: Vec::new(),
            held_orders: Vec::new(),
            third_party_orders: Vec::new(),
            notices: Vec::new(),
            planned_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        }
        .confirm(),
    }
}
