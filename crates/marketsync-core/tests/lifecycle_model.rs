//! Property test of the integration lifecycle (DESIGN §4) against a reference model, with
//! `proptest-state-machine`.
//!
//! Each run fixes random channel rules, creates an integration and applies up to 40 random steps:
//! every [`Event`] (with random overrides present, absent or incomplete, random labels, testing
//! periods in and out of range, random actors) and random advances of a test clock, so that
//! Testing → Live happens both through `Tick` and through whatever event first sees the time. The
//! clock is a plain value in the model; the system clock is never read.
//!
//! The reference model ([`Model`]) is a small, separately written statement of DESIGN §4: a
//! refusal table ([`Model::refusal`]) and the effects of each accepted event ([`Model::effect`]).
//! After every step the test checks that the model and the real [`Lifecycle`] agree on `Ok`/`Err`
//! (the exact error), on the exact audit events and on everything observable, and that the
//! invariants of DESIGN §4 hold for both.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use marketsync_core::lifecycle::{
    Actor, AuditEvent, Blocked, Change, ChannelRules, Context, DEFAULT_TESTING_DAYS, Event,
    Feature, Features, Health, HealthKind, Lifecycle, LifecycleError, MAX_TESTING_DAYS, Phase,
    SupportOverride, Switch,
};
use marketsync_core::{BrokenReason, Label};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 8, 30, 0).unwrap()
}

fn creator() -> Actor {
    Actor::User("creator".to_owned())
}

// ----- the reference model -----

/// What DESIGN §4 says an integration is, kept as plainly as possible.
#[derive(Clone, Debug)]
struct Model {
    rules: ChannelRules,
    /// The test clock.
    now: DateTime<Utc>,
    /// The phase as last recorded.
    phase: Phase,
    testing_since: Option<DateTime<Utc>>,
    testing_days: u32,
    enabled: bool,
    health: HealthKind,
    /// Reason, since, channel message, while broken.
    broken: Option<(BrokenReason, DateTime<Utc>, Option<String>)>,
    listings: bool,
    reconciler: bool,
    orders: bool,
    fulfillments: bool,
    label: Option<Label>,
    deactivated: bool,
    plan_confirmed: bool,
    tombstone: Option<(DateTime<Utc>, Actor)>,
    /// What the last step must have returned (`None` for a clock advance).
    expected: Option<Result<Vec<AuditEvent>, LifecycleError>>,
}

impl Model {
    fn new(rules: ChannelRules) -> Self {
        Self {
            rules,
            now: start(),
            phase: Phase::Setup,
            testing_since: None,
            testing_days: DEFAULT_TESTING_DAYS,
            enabled: true,
            health: HealthKind::Unverified,
            broken: None,
            listings: false,
            reconciler: false,
            orders: false,
            fulfillments: true,
            label: None,
            deactivated: false,
            plan_confirmed: false,
            tombstone: None,
            expected: None,
        }
    }

    fn live_at(&self) -> Option<DateTime<Utc>> {
        Some(self.testing_since? + TimeDelta::days(i64::from(self.testing_days)))
    }

    fn phase_now(&self) -> Phase {
        if self.phase == Phase::Testing && self.live_at().is_some_and(|l| self.now >= l) {
            Phase::Live
        } else {
            self.phase
        }
    }

    fn exchange_allowed(&self) -> bool {
        self.tombstone.is_none()
            && self.phase_now() != Phase::Setup
            && self.enabled
            && !self.deactivated
            && self.health == HealthKind::Healthy
    }

    /// Why data may not flow now, reporting the first of: deleted, setup, disabled, deactivated,
    /// unverified or broken.
    fn blocked(&self) -> Option<Blocked> {
        if self.tombstone.is_some() {
            Some(Blocked::Deleted)
        } else if self.phase_now() == Phase::Setup {
            Some(Blocked::Setup)
        } else if !self.enabled {
            Some(Blocked::Disabled)
        } else if self.deactivated {
            Some(Blocked::Deactivated)
        } else if let Some((reason, _, channel_message)) = &self.broken {
            Some(Blocked::Broken {
                reason: *reason,
                channel_message: channel_message.clone(),
            })
        } else if self.health == HealthKind::Unverified {
            Some(Blocked::Unverified)
        } else {
            None
        }
    }

    fn features(&self) -> Features {
        Features {
            listings: self.listings,
            reconciler: self.reconciler,
            orders: self.orders,
            fulfillments: self.fulfillments,
        }
    }

    fn feature(&self, f: Feature) -> bool {
        match f {
            Feature::Listings => self.listings,
            Feature::Reconciler => self.reconciler,
            Feature::Orders => self.orders,
            Feature::Fulfillments => self.fulfillments,
        }
    }

    fn feature_slot(&mut self, f: Feature) -> &mut bool {
        match f {
            Feature::Listings => &mut self.listings,
            Feature::Reconciler => &mut self.reconciler,
            Feature::Orders => &mut self.orders,
            Feature::Fulfillments => &mut self.fulfillments,
        }
    }

    /// Records Testing → Live when its time has come (the system's doing, at the moment the
    /// period ended).
    fn pass_time(&mut self, log: &mut Vec<AuditEvent>) {
        if self.phase == Phase::Testing && self.phase_now() == Phase::Live {
            self.phase = Phase::Live;
            log.push(AuditEvent {
                at: self.live_at().unwrap(),
                actor: Actor::System,
                change: Change::PhaseChanged {
                    from: Phase::Testing,
                    to: Phase::Live,
                },
                support_override: None,
            });
        }
    }

    /// Why `ev` is refused in this (already time-advanced) state, if it is.
    fn refusal(&self, actor: &Actor, ev: &Event) -> Option<LifecycleError> {
        use LifecycleError as E;
        let live = self.phase == Phase::Live;
        let support = matches!(actor, Actor::Support(_));
        let needs_override = |free: bool, o: &Option<SupportOverride>, change: String| match o {
            Some(o) if o.by.trim().is_empty() || o.reason.trim().is_empty() => {
                Some(E::IncompleteOverride)
            }
            // Only support may give an override.
            Some(_) if !support => Some(E::SupportOnly { change }),
            None if live && !free => Some(E::OverrideRequired { change }),
            _ => None,
        };
        match ev {
            Event::CredentialsEntered
            | Event::RotateCredentials
            | Event::VerificationSucceeded
            | Event::MarkBroken { .. }
                if self.deactivated =>
            {
                Some(E::Deactivated)
            }
            Event::Activate if self.phase != Phase::Setup => Some(E::AlreadyActive(self.phase)),
            Event::Activate if self.deactivated => Some(E::Deactivated),
            Event::Activate if self.health != HealthKind::Healthy => Some(E::NotVerified),
            Event::SetTestingPeriod { .. } if live => Some(E::AlreadyLive),
            Event::SetTestingPeriod { days } if *days > MAX_TESTING_DAYS => {
                Some(E::InvalidTestingPeriod(*days))
            }
            Event::SetFeature {
                feature,
                on,
                support_override,
            } if self.feature(*feature) != *on => {
                let rule = match (feature, on) {
                    (Feature::Reconciler, true) if !self.rules.reconcile_supported => {
                        Some(E::ReconcilerUnsupported)
                    }
                    (Feature::Reconciler, true) if !self.listings => {
                        Some(E::ReconcilerNeedsListings)
                    }
                    (Feature::Listings, false) if self.reconciler => {
                        Some(E::ListingsNeededByReconciler)
                    }
                    (Feature::Listings, true) if self.label.is_none() => Some(E::LabelRequired),
                    (Feature::Fulfillments, false) if self.rules.fulfillment_required => {
                        Some(E::FulfillmentRequired)
                    }
                    _ => None,
                };
                let name = match feature {
                    Feature::Listings => "listings",
                    Feature::Reconciler => "reconciler",
                    Feature::Orders => "orders",
                    Feature::Fulfillments => "fulfillments",
                };
                let free = *on && matches!(feature, Feature::Reconciler | Feature::Fulfillments);
                rule.or_else(|| {
                    needs_override(
                        free,
                        support_override,
                        format!("turning {name} {}", if *on { "on" } else { "off" }),
                    )
                })
            }
            Event::SetLabel {
                label,
                support_override,
            } if *label != self.label => {
                if label.is_none() && self.listings {
                    Some(E::LabelRequired)
                } else {
                    needs_override(false, support_override, "changing the label".to_owned())
                }
            }
            Event::Deactivate if !self.rules.login_authorization => Some(E::NotLoginType),
            Event::Deactivate if self.deactivated => Some(E::Deactivated),
            Event::Reactivate if !self.deactivated => Some(E::NotDeactivated),
            Event::ConfirmReconcilePlan if !self.reconciler => Some(E::ReconcilerOff),
            _ => None,
        }
    }

    /// The effect of an accepted event.
    fn effect(&mut self, actor: &Actor, ev: &Event, log: &mut Vec<AuditEvent>) {
        let at = self.now;
        let record = |log: &mut Vec<AuditEvent>, change, o: Option<SupportOverride>| {
            log.push(AuditEvent {
                at,
                actor: actor.clone(),
                change,
                support_override: o,
            })
        };
        let health_to = |m: &mut Model, log: &mut Vec<AuditEvent>, to: HealthKind| {
            if m.health != to {
                record(
                    log,
                    Change::HealthChanged {
                        from: m.health,
                        to,
                        reason: None,
                        channel_message: None,
                    },
                    None,
                );
                m.health = to;
                m.broken = None;
            }
        };
        match ev {
            Event::CredentialsEntered => {
                record(log, Change::CredentialsEntered, None);
                health_to(self, log, HealthKind::Unverified);
            }
            Event::RotateCredentials => {
                record(log, Change::CredentialsRotated, None);
                health_to(self, log, HealthKind::Unverified);
            }
            Event::VerificationSucceeded => health_to(self, log, HealthKind::Healthy),
            Event::MarkBroken {
                reason,
                channel_message,
            } => {
                if self.health != HealthKind::Broken {
                    record(
                        log,
                        Change::HealthChanged {
                            from: self.health,
                            to: HealthKind::Broken,
                            reason: Some(*reason),
                            channel_message: channel_message.clone(),
                        },
                        None,
                    );
                    self.health = HealthKind::Broken;
                    self.broken = Some((*reason, at, channel_message.clone()));
                }
            }
            Event::Activate => {
                self.phase = Phase::Testing;
                self.testing_since = Some(at);
                record(
                    log,
                    Change::PhaseChanged {
                        from: Phase::Setup,
                        to: Phase::Testing,
                    },
                    None,
                );
                self.pass_time(log);
            }
            Event::SetTestingPeriod { days } => {
                if *days != self.testing_days {
                    self.testing_days = *days;
                    record(log, Change::TestingPeriodSet { days: *days }, None);
                    self.pass_time(log);
                }
            }
            Event::Enable | Event::Disable => {
                let enable = *ev == Event::Enable;
                if self.enabled != enable {
                    self.enabled = enable;
                    let to = if enable {
                        Switch::Enabled
                    } else {
                        Switch::Disabled
                    };
                    record(log, Change::SwitchChanged { to }, None);
                }
            }
            Event::SetFeature {
                feature,
                on,
                support_override,
            } => {
                if self.feature(*feature) != *on {
                    *self.feature_slot(*feature) = *on;
                    if *feature == Feature::Reconciler {
                        self.plan_confirmed = false;
                    }
                    record(
                        log,
                        Change::FeatureChanged {
                            feature: *feature,
                            on: *on,
                        },
                        support_override.clone(),
                    );
                }
            }
            Event::SetLabel {
                label,
                support_override,
            } => {
                if *label != self.label {
                    let from = std::mem::replace(&mut self.label, label.clone());
                    // A label change re-arms the reconciler's dry run.
                    self.plan_confirmed = false;
                    record(
                        log,
                        Change::LabelChanged {
                            from,
                            to: label.clone(),
                        },
                        support_override.clone(),
                    );
                }
            }
            Event::Deactivate => {
                self.deactivated = true;
                record(log, Change::Deactivated, None);
                health_to(self, log, HealthKind::Unverified);
            }
            Event::Reactivate => {
                self.deactivated = false;
                record(log, Change::Reactivated, None);
            }
            Event::ConfirmReconcilePlan => {
                if !self.plan_confirmed {
                    self.plan_confirmed = true;
                    record(log, Change::ReconcilePlanConfirmed, None);
                }
            }
            Event::Delete { .. } => {
                self.tombstone = Some((at, actor.clone()));
                record(
                    log,
                    Change::Deleted {
                        unfulfilled_orders: Vec::new(),
                    },
                    None,
                );
            }
            Event::Tick => {}
            other => panic!("the model does not know {other:?}"),
        }
    }

    /// Applies `ev` by `actor` at the model's clock: all or nothing.
    fn run(&mut self, actor: &Actor, ev: &Event) -> Result<Vec<AuditEvent>, LifecycleError> {
        if self.tombstone.is_some() {
            return Err(LifecycleError::Deleted);
        }
        let mut next = self.clone();
        let mut log = Vec::new();
        next.pass_time(&mut log);
        if let Some(refused) = next.refusal(actor, ev) {
            return Err(refused);
        }
        next.effect(actor, ev, &mut log);
        *self = next;
        Ok(log)
    }
}

// ----- steps -----

#[derive(Clone, Debug)]
enum Step {
    /// The test clock moves forward.
    Wait(TimeDelta),
    /// Someone does something.
    Do(Actor, Event),
}

fn arb_override() -> impl Strategy<Value = Option<SupportOverride>> {
    prop_oneof![
        4 => Just(None),
        4 => Just(Some(SupportOverride::new("sam (support)", "ticket 1234"))),
        1 => Just(Some(SupportOverride::new(" ", "ticket 1234"))),
        1 => Just(Some(SupportOverride::new("sam (support)", ""))),
    ]
}

fn arb_label() -> impl Strategy<Value = Option<Label>> {
    prop_oneof![
        1 => Just(None),
        3 => Just(Some(Label::new("alpha").unwrap())),
        2 => Just(Some(Label::new("beta").unwrap())),
    ]
}

fn arb_reason() -> impl Strategy<Value = BrokenReason> {
    prop_oneof![
        Just(BrokenReason::CredentialsRejected),
        Just(BrokenReason::LoginRequired),
        Just(BrokenReason::PermissionDenied),
        Just(BrokenReason::AccountNotUsable),
    ]
}

fn arb_feature() -> impl Strategy<Value = Feature> {
    prop_oneof![
        Just(Feature::Listings),
        Just(Feature::Reconciler),
        Just(Feature::Orders),
        Just(Feature::Fulfillments),
    ]
}

fn arb_actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        Just(Actor::User("ulla".to_owned())),
        Just(Actor::Support("sam".to_owned())),
        Just(Actor::System),
    ]
}

fn arb_days() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0..=3u32,
        1 => Just(DEFAULT_TESTING_DAYS),
        1 => 4..=MAX_TESTING_DAYS,
        1 => Just(MAX_TESTING_DAYS),
        1 => (MAX_TESTING_DAYS + 1)..=(MAX_TESTING_DAYS + 3),
        1 => Just(u32::MAX),
    ]
}

fn arb_wait() -> impl Strategy<Value = TimeDelta> {
    prop_oneof![
        3 => (0..=48i64).prop_map(TimeDelta::hours),
        2 => (1..=12i64).prop_map(TimeDelta::days),
        1 => (25..=40i64).prop_map(TimeDelta::days),
    ]
}

/// The next step, weighted by the state so that runs get activated, go Live and get repaired
/// often, and are deleted now and then.
fn arb_step(m: &Model) -> BoxedStrategy<Step> {
    let setup = m.phase == Phase::Setup;
    let w = |in_setup: u32, otherwise: u32| if setup { in_setup } else { otherwise };
    let plain = |e: Event| Just(e).boxed();
    let events: Vec<(u32, BoxedStrategy<Event>)> = vec![
        (3, plain(Event::CredentialsEntered)),
        (2, plain(Event::RotateCredentials)),
        (w(12, 4), plain(Event::VerificationSucceeded)),
        (
            3,
            (arb_reason(), proptest::option::of(Just("no".to_owned())))
                .prop_map(|(reason, channel_message)| Event::MarkBroken {
                    reason,
                    channel_message,
                })
                .boxed(),
        ),
        (w(12, 1), plain(Event::Activate)),
        (
            w(6, 3),
            arb_days()
                .prop_map(|days| Event::SetTestingPeriod { days })
                .boxed(),
        ),
        (2, plain(Event::Enable)),
        (2, plain(Event::Disable)),
        (
            16,
            (arb_feature(), any::<bool>(), arb_override())
                .prop_map(|(feature, on, support_override)| Event::SetFeature {
                    feature,
                    on,
                    support_override,
                })
                .boxed(),
        ),
        (
            5,
            (arb_label(), arb_override())
                .prop_map(|(label, support_override)| Event::SetLabel {
                    label,
                    support_override,
                })
                .boxed(),
        ),
        (2, plain(Event::Deactivate)),
        (2, plain(Event::Reactivate)),
        (3, plain(Event::ConfirmReconcilePlan)),
        (w(1, 2), plain(delete_event())),
        (2, plain(Event::Tick)),
    ];
    let event = Union::new_weighted(events);
    prop_oneof![
        1 => arb_wait().prop_map(Step::Wait),
        5 => (arb_actor(), event).prop_map(|(a, e)| Step::Do(a, e)),
    ]
    .boxed()
}

fn arb_rules() -> impl Strategy<Value = ChannelRules> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(reconcile_supported, fulfillment_required, login_authorization)| ChannelRules {
            reconcile_supported,
            fulfillment_required,
            login_authorization,
        },
    )
}

struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        arb_rules().prop_map(Model::new).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        arb_step(state)
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        match step {
            Step::Wait(d) => {
                state.now += *d;
                state.expected = None;
            }
            Step::Do(actor, ev) => {
                let outcome = state.run(actor, ev);
                state.expected = Some(outcome);
            }
        }
        state
    }
}

// ----- the system under test -----

struct Real {
    lc: Lifecycle,
    now: DateTime<Utc>,
    /// Credentials were entered, rotated or the session dropped, and not verified since.
    awaiting_verification: bool,
}

struct LifecycleMachine;

fn is_live_guarded(change: &Change) -> bool {
    match change {
        // Turning a feature off, or listings/orders on.
        Change::FeatureChanged { feature, on } => {
            !*on || matches!(feature, Feature::Listings | Feature::Orders)
        }
        Change::LabelChanged { .. } => true,
        _ => false,
    }
}

impl StateMachineTest for LifecycleMachine {
    type SystemUnderTest = Real;
    type Reference = Reference;

    fn init_test(model: &Model) -> Real {
        let (lc, created) = Lifecycle::create(model.rules, &Context::at(creator(), model.now));
        assert_eq!(
            created,
            AuditEvent {
                at: model.now,
                actor: creator(),
                change: Change::Created,
                support_override: None,
            }
        );
        Real {
            lc,
            now: model.now,
            awaiting_verification: true,
        }
    }

    fn apply(mut real: Real, model: &Model, step: Step) -> Real {
        match step {
            Step::Wait(_) => real.now = model.now,
            Step::Do(actor, ev) => {
                assert_eq!(real.now, model.now);
                let ctx = Context::at(actor, real.now);
                let before = real.lc.clone();
                let phase_before = before.phase(real.now);
                let got = real.lc.apply(&ctx, ev.clone());

                // Model and lifecycle agree on Ok/Err, the exact error and the exact events.
                assert_eq!(Some(&got), model.expected.as_ref(), "outcome of {ev:?}");

                match &got {
                    Err(_) => {
                        // A refused transition changes nothing.
                        assert_eq!(real.lc, before, "{ev:?} was refused but changed the state");
                    }
                    Ok(events) => {
                        // Deleted is terminal.
                        assert!(!before.is_deleted(), "{ev:?} accepted after delete");
                        if events.is_empty() {
                            assert_eq!(real.lc, before, "{ev:?}: a no-op changed the state");
                        }
                        let given = match &ev {
                            Event::SetFeature {
                                support_override, ..
                            }
                            | Event::SetLabel {
                                support_override, ..
                            } => support_override.clone(),
                            _ => None,
                        };
                        for e in events {
                            if e.actor == Actor::System && ctx.actor != Actor::System {
                                // Only the passing of time is the system's own doing.
                                assert!(matches!(
                                    e.change,
                                    Change::PhaseChanged {
                                        to: Phase::Live,
                                        ..
                                    }
                                ));
                                assert_eq!(Some(e.at), real.lc.live_at());
                            } else if !matches!(
                                e.change,
                                Change::PhaseChanged {
                                    to: Phase::Live,
                                    ..
                                }
                            ) {
                                assert_eq!((&e.actor, e.at), (&ctx.actor, ctx.at));
                            }
                            // In Live, turning a feature off (or listings/orders on) or
                            // changing the label is accepted only with an override, which
                            // its audit event carries.
                            if phase_before == Phase::Live && is_live_guarded(&e.change) {
                                assert!(
                                    given.is_some(),
                                    "{ev:?} accepted in Live without override"
                                );
                                assert_eq!(e.support_override, given);
                            }
                            if matches!(
                                e.change,
                                Change::FeatureChanged { .. } | Change::LabelChanged { .. }
                            ) {
                                assert_eq!(e.support_override, given);
                            }
                        }
                        match ev {
                            Event::CredentialsEntered
                            | Event::RotateCredentials
                            | Event::Deactivate => {
                                assert_eq!(real.lc.health(), &Health::Unverified);
                                real.awaiting_verification = true;
                            }
                            Event::VerificationSucceeded => {
                                assert_eq!(real.lc.health(), &Health::Healthy);
                                real.awaiting_verification = false;
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        real
    }

    fn check_invariants(real: &Real, model: &Model) {
        let lc = &real.lc;
        let now = real.now;
        assert_eq!(now, model.now);

        // Model and lifecycle agree on everything observable.
        assert_eq!(lc.rules(), model.rules);
        assert_eq!(lc.recorded_phase(), model.phase);
        assert_eq!(lc.phase(now), model.phase_now());
        assert_eq!(lc.testing_started_at(), model.testing_since);
        assert_eq!(
            lc.testing_period(),
            TimeDelta::days(i64::from(model.testing_days))
        );
        assert_eq!(lc.live_at(), model.live_at());
        assert_eq!(
            lc.switch(),
            if model.enabled {
                Switch::Enabled
            } else {
                Switch::Disabled
            }
        );
        assert_eq!(lc.health().kind(), model.health);
        match lc.health() {
            Health::Broken {
                reason,
                since,
                channel_message,
            } => assert_eq!(
                Some((*reason, *since, channel_message.clone())),
                model.broken
            ),
            _ => assert_eq!(model.broken, None),
        }
        assert_eq!(lc.features(), model.features());
        assert_eq!(lc.label(), model.label.as_ref());
        assert_eq!(lc.is_deactivated(), model.deactivated);
        assert_eq!(lc.reconcile_plan_confirmed(), model.plan_confirmed);
        assert_eq!(
            lc.tombstone().map(|t| (t.at, t.by.clone())),
            model.tombstone
        );

        // No data exchange unless Testing/Live, Enabled, Healthy, not deactivated, not deleted:
        // stated on the lifecycle's own observables, and on the model.
        let real_allowed = !lc.is_deleted()
            && matches!(lc.phase(now), Phase::Testing | Phase::Live)
            && lc.switch() == Switch::Enabled
            && lc.health().kind() == HealthKind::Healthy
            && !lc.is_deactivated();
        assert_eq!(lc.check_exchange(now).is_ok(), real_allowed);
        assert_eq!(model.exchange_allowed(), real_allowed);
        assert_eq!(lc.check_exchange(now).err(), model.blocked());
        for f in Feature::ALL {
            assert_eq!(
                lc.check_feature(f, now).is_ok(),
                real_allowed && lc.features().get(f),
                "check_feature({f:?})"
            );
        }

        // Fulfilments are never off where the channel requires them.
        for (rules, fulfillments) in [
            (lc.rules(), lc.features().fulfillments),
            (model.rules, model.fulfillments),
        ] {
            assert!(!rules.fulfillment_required || fulfillments);
        }

        // The reconciler is on only where supported, and only with listings on; listings only
        // with a label.
        for (rules, f, has_label) in [
            (lc.rules(), lc.features(), lc.label().is_some()),
            (model.rules, model.features(), model.label.is_some()),
        ] {
            assert!(!f.reconciler || (rules.reconcile_supported && f.listings));
            assert!(!f.listings || has_label);
        }

        // Entered, rotated or re-logged-in credentials are not healthy until verified.
        if real.awaiting_verification {
            assert_ne!(lc.health().kind(), HealthKind::Healthy);
        }
        // A deactivated integration is never healthy.
        if lc.is_deactivated() {
            assert_eq!(lc.health().kind(), HealthKind::Unverified);
        }
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    #[test]
    fn lifecycle_agrees_with_the_model(sequential 1..40 => LifecycleMachine);
}

// ----- deleted is terminal, as a property of its own -----

fn arb_event() -> impl Strategy<Value = (Actor, Event)> {
    arb_step(&Model::new(ChannelRules::default())).prop_filter_map("events only", |s| match s {
        Step::Do(actor, ev) => Some((actor, ev)),
        Step::Wait(_) => None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Once deleted, every later event, at any later time, is refused with `Deleted` and changes
    /// nothing.
    #[test]
    fn deleted_is_terminal(
        rules in arb_rules(),
        waits in proptest::collection::vec(0..=400i64, 1..20),
        events in proptest::collection::vec(arb_event(), 1..20),
    ) {
        let at = Context::at(creator(), start());
        let (mut lc, _) = Lifecycle::create(rules, &at);
        lc.credentials_entered(&at).unwrap();
        lc.verification_succeeded(&at).unwrap();
        lc.activate(&at).unwrap();
        let plan = lc.plan_delete(Vec::new(), start()).unwrap();
        lc.delete(&at, plan.confirm()).unwrap();
        let tomb = lc.clone();
        let mut now = start();
        for ((actor, ev), w) in events.into_iter().zip(waits.into_iter().cycle()) {
            now += TimeDelta::days(w);
            prop_assert_eq!(lc.apply(&Context::at(actor, now), ev), Err(LifecycleError::Deleted));
            prop_assert!(lc.tick(now).is_empty());
            prop_assert_eq!(&lc, &tomb);
            prop_assert!(lc.check_exchange(now).is_err());
            prop_assert_eq!(lc.plan_delete(Vec::new(), now), Err(LifecycleError::Deleted));
        }
    }
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
