//! The integration lifecycle: a pure state machine.
//!
//! Three independent parts, each a small enum — [`Phase`] (Setup → Testing → Live),
//! [`Switch`] (enabled / disabled) and [`Health`] (unverified / healthy / broken) — plus the four
//! feature switches ([`Features`]), the label, and the tombstone of a deleted integration. They
//! change only through named transitions on [`Lifecycle`], each returning the audit events it
//! produced or a typed [`LifecycleError`]. Time comes from the caller ([`Context`]), never from the
//! system clock.
//!
//! Data flows only when the phase is Testing or Live, the switch is Enabled, the health is Healthy,
//! the integration is neither deactivated nor deleted, and the feature's switch is on
//! ([`Lifecycle::check_feature`]).

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::capability::Capabilities;
use crate::clock::Clock;
use crate::error::BrokenReason;
use crate::ids::{ChannelOrderId, Label};
use crate::order::Management;

/// The default testing period: 30 days (ChannelAdvisor).
pub const DEFAULT_TESTING_DAYS: u32 = 30;

/// The longest testing period accepted, in days.
pub const MAX_TESTING_DAYS: u32 = 366;

/// The phase of an integration (ChannelAdvisor's account status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Created: credentials, label, mappings and settings are configured. No data is exchanged.
    Setup,
    /// Activated: data flows as the feature switches allow; every setting may change.
    Testing,
    /// The testing period has elapsed. A change that turns a feature off, turns listings or orders
    /// on, or changes the label needs a support override.
    Live,
}

/// Enabled or disabled. Disabled stops all downloading and updating until re-enabled;
/// nothing is lost, the next run catches up from its cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Switch {
    /// Running.
    Enabled,
    /// Stopped by the seller.
    Disabled,
}

/// Whether the credentials work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Health {
    /// Credentials entered or rotated, not yet verified.
    Unverified,
    /// The last call with these credentials succeeded.
    Healthy,
    /// The channel refused the credentials, a renewal failed, or the channel said the account
    /// cannot be used. No data is exchanged until repaired.
    Broken {
        /// The diagnosis.
        reason: BrokenReason,
        /// Since when.
        since: DateTime<Utc>,
        /// Exactly what the channel said, when it said something.
        channel_message: Option<String>,
    },
}

impl Health {
    /// The state without its details.
    pub fn kind(&self) -> HealthKind {
        match self {
            Health::Unverified => HealthKind::Unverified,
            Health::Healthy => HealthKind::Healthy,
            Health::Broken { .. } => HealthKind::Broken,
        }
    }
}

/// [`Health`] without its details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthKind {
    /// [`Health::Unverified`].
    Unverified,
    /// [`Health::Healthy`].
    Healthy,
    /// [`Health::Broken`].
    Broken,
}

/// One of the four feature switches (ChannelAdvisor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Send the listing feed.
    Listings,
    /// Remove channel listings that are not on the label.
    Reconciler,
    /// Download orders.
    Orders,
    /// Send shipments, refunds and cancellations.
    Fulfillments,
}

impl Feature {
    /// All four.
    pub const ALL: [Feature; 4] = [
        Feature::Listings,
        Feature::Reconciler,
        Feature::Orders,
        Feature::Fulfillments,
    ];
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Feature::Listings => "listings",
            Feature::Reconciler => "reconciler",
            Feature::Orders => "orders",
            Feature::Fulfillments => "fulfillments",
        })
    }
}

/// The feature switches. New integrations have only fulfilments on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Features {
    /// Send the listing feed.
    pub listings: bool,
    /// Remove channel listings not on the label.
    pub reconciler: bool,
    /// Download orders.
    pub orders: bool,
    /// Send shipments, refunds and cancellations (on by default).
    pub fulfillments: bool,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            listings: false,
            reconciler: false,
            orders: false,
            fulfillments: true,
        }
    }
}

impl Features {
    /// Whether `feature` is on.
    pub fn get(&self, feature: Feature) -> bool {
        match feature {
            Feature::Listings => self.listings,
            Feature::Reconciler => self.reconciler,
            Feature::Orders => self.orders,
            Feature::Fulfillments => self.fulfillments,
        }
    }

    fn set(&mut self, feature: Feature, on: bool) {
        match feature {
            Feature::Listings => self.listings = on,
            Feature::Reconciler => self.reconciler = on,
            Feature::Orders => self.orders = on,
            Feature::Fulfillments => self.fulfillments = on,
        }
    }
}

/// The channel's rules the lifecycle enforces, taken from its [`Capabilities`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChannelRules {
    /// The channel supports reconciliation (the reconciler may be switched on).
    pub reconcile_supported: bool,
    /// Orders must be fulfilled through the integration (fulfilments cannot be turned off).
    pub fulfillment_required: bool,
    /// The credential is login-type (repair by deactivate → reactivate).
    pub login_authorization: bool,
}

impl From<&Capabilities> for ChannelRules {
    fn from(c: &Capabilities) -> Self {
        Self {
            reconcile_supported: c.listings_reconcile,
            fulfillment_required: c.fulfillment_required,
            login_authorization: c.login_authorization,
        }
    }
}

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum Actor {
    /// A person using the host program.
    User(String),
    /// Support staff acting on the seller's behalf.
    Support(String),
    /// marketsync itself (the engine, the scheduler, the passing of time).
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(n) => write!(f, "user {n}"),
            Actor::Support(n) => write!(f, "support {n}"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// Who is acting, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// Who.
    pub actor: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

impl Context {
    /// `actor`, now by `clock`.
    pub fn now(actor: Actor, clock: &dyn Clock) -> Self {
        Self {
            actor,
            at: clock.now(),
        }
    }

    /// `actor` at `at`.
    pub fn at(actor: Actor, at: DateTime<Utc>) -> Self {
        Self { actor, at }
    }
}

/// Support's authorisation of a change that Live otherwise refuses: who, and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SupportOverride {
    /// Who authorised it.
    pub by: String,
    /// Why.
    pub reason: String,
}

impl SupportOverride {
    /// An override; both parts must be given.
    pub fn new(by: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            by: by.into(),
            reason: reason.into(),
        }
    }

    fn is_complete(&self) -> bool {
        !self.by.trim().is_empty() && !self.reason.trim().is_empty()
    }
}

/// A deleted integration's tombstone. Its orders stay readable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub by: Actor,
}

/// What deleting an integration means, shown before it is confirmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletePlan {
    /// Imported orders of this integration, managed here, not yet fulfilled: the seller stays
    /// responsible for them.
    pub unfulfilled_orders: Vec<ChannelOrderId>,
    /// Orders downloaded and awaiting shipment at the channel but not imported (held for a
    /// mapping, or unreadable): paid orders the seller still has to fulfil, outside this
    /// integration once it is deleted.
    #[serde(default)]
    pub held_orders: Vec<ChannelOrderId>,
    /// Imported orders managed by a third party (fulfilments were off), not yet fulfilled: the
    /// seller stays responsible for them with that party.
    #[serde(default)]
    pub third_party_orders: Vec<ChannelOrderId>,
    /// The consequences, in words.
    pub notices: Vec<String>,
    /// When the plan was made.
    pub planned_at: DateTime<Utc>,
}

impl DeletePlan {
    /// Accepts the plan. The confirmation is what [`Lifecycle::delete`] takes.
    pub fn confirm(self) -> DeleteConfirmation {
        DeleteConfirmation { plan: self }
    }
}

/// A confirmed [`DeletePlan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteConfirmation {
    plan: DeletePlan,
}

impl DeleteConfirmation {
    /// The plan that was confirmed.
    pub fn plan(&self) -> &DeletePlan {
        &self.plan
    }
}

/// One change to an integration — its lifecycle, mappings or settings — as recorded in the
/// audit log. Serialised with a `change` tag (`"mappings_changed"`, …); new variants are added,
/// existing ones keep their shape, so older logs always read back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// The integration was created.
    Created,
    /// The phase changed (activation, or the testing period elapsing).
    PhaseChanged {
        /// Before.
        from: Phase,
        /// After.
        to: Phase,
    },
    /// The testing period was set.
    TestingPeriodSet {
        /// Days.
        days: u32,
    },
    /// Enabled or disabled.
    SwitchChanged {
        /// After.
        to: Switch,
    },
    /// Credentials were entered or replaced.
    CredentialsEntered,
    /// Credentials were rotated (the old secret stopped working).
    CredentialsRotated,
    /// Health changed.
    HealthChanged {
        /// Before.
        from: HealthKind,
        /// After.
        to: HealthKind,
        /// The diagnosis, when it became broken.
        reason: Option<BrokenReason>,
        /// The channel's message, when it became broken.
        channel_message: Option<String>,
    },
    /// A feature switch changed.
    FeatureChanged {
        /// Which.
        feature: Feature,
        /// After.
        on: bool,
    },
    /// The label changed.
    LabelChanged {
        /// Before.
        from: Option<Label>,
        /// After.
        to: Option<Label>,
    },
    /// Deactivated (login-type repair, step one).
    Deactivated,
    /// Reactivated (login-type repair, step two: the login starts again).
    Reactivated,
    /// The reconciler's dry-run plan was confirmed.
    ReconcilePlanConfirmed,
    /// Deleted.
    Deleted {
        /// The unfulfilled orders the seller stays responsible for.
        unfulfilled_orders: Vec<ChannelOrderId>,
    },
    /// The shipping and SKU mappings were edited
    /// ([`Engine::edit_mappings`](crate::Engine::edit_mappings)); stored with the new mappings,
    /// in the same write where the store allows. Recorded only when they changed.
    MappingsChanged {
        /// The whole set before the edit.
        before: crate::mapping::MappingSet,
        /// The whole set after it.
        after: crate::mapping::MappingSet,
    },
    /// The integration's settings were replaced
    /// ([`Engine::set_settings`](crate::Engine::set_settings)). Recorded only when they
    /// changed.
    SettingsChanged {
        /// The settings before.
        before: Box<crate::settings::IntegrationSettings>,
        /// The settings after.
        after: Box<crate::settings::IntegrationSettings>,
    },
}

/// An entry of the audit log: who changed what, when, under which override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// What.
    pub change: Change,
    /// The support override it was made under, if any.
    pub support_override: Option<SupportOverride>,
}

/// A transition the lifecycle refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The integration is deleted; nothing changes it any more.
    #[error("the integration is deleted")]
    Deleted,
    /// Activation needs credentials verified with the channel.
    #[error("activation needs verified credentials: verify the credentials first")]
    NotVerified,
    /// Activation is only possible from Setup.
    #[error("the integration is already active (phase {0:?})")]
    AlreadyActive(Phase),
    /// The testing period can only be set before the integration is Live.
    #[error("the integration is already live; the testing period no longer applies")]
    AlreadyLive,
    /// The testing period is out of range.
    #[error("testing period of {0} days is out of range (0 to {MAX_TESTING_DAYS})")]
    InvalidTestingPeriod(u32),
    /// The channel does not support reconciliation.
    #[error("this channel does not support reconciliation, so the reconciler cannot be turned on")]
    ReconcilerUnsupported,
    /// The reconciler needs the listings feature on.
    #[error("the reconciler needs the listings feature on")]
    ReconcilerNeedsListings,
    /// Listings cannot be turned off while the reconciler is on.
    #[error("turn the reconciler off before turning listings off")]
    ListingsNeededByReconciler,
    /// The listing feed needs a label.
    #[error("the listing feed needs a label: set the integration's label first")]
    LabelRequired,
    /// The channel requires fulfilment through the integration.
    #[error(
        "this channel requires fulfilment through the integration, so fulfilments cannot be turned off"
    )]
    FulfillmentRequired,
    /// A Live integration needs a support override (who and why) for this change.
    #[error("the integration is live: {change} needs a support override (who and why)")]
    OverrideRequired {
        /// The change refused, in words.
        change: String,
    },
    /// The override lacks who or why.
    #[error("a support override needs both who authorised it and why")]
    IncompleteOverride,
    /// A support override was given by someone other than support.
    #[error(
        "{change} in Live is a change only support can make: ask support to make it (a support override is accepted only from Actor::Support)"
    )]
    SupportOnly {
        /// The change refused, in words.
        change: String,
    },
    /// Deactivate/reactivate is the repair of login-type credentials only.
    #[error(
        "deactivate/reactivate repairs login-type connections only: replace the credentials and verify them instead"
    )]
    NotLoginType,
    /// The integration is deactivated; reactivate it first.
    #[error("the integration is deactivated: reactivate it to log in again")]
    Deactivated,
    /// Reactivate needs a deactivated integration.
    #[error("the integration is not deactivated")]
    NotDeactivated,
    /// There is no reconciler plan to confirm.
    #[error("the reconciler is off, so there is no plan to confirm")]
    ReconcilerOff,
}

/// Why data may not flow for an integration right now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "blocked", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Blocked {
    /// Deleted.
    #[error("the integration is deleted")]
    Deleted,
    /// Still in Setup.
    #[error("the integration is in setup: activate it to start exchanging data")]
    Setup,
    /// Disabled.
    #[error("the integration is disabled")]
    Disabled,
    /// Deactivated for a new login.
    #[error("the integration is deactivated: reactivate it and log in again")]
    Deactivated,
    /// Credentials not verified.
    #[error("the credentials are not verified")]
    Unverified,
    /// Broken.
    #[error("the connection is broken ({reason}): {}", reason.advice())]
    Broken {
        /// The diagnosis.
        reason: BrokenReason,
        /// The channel's message.
        channel_message: Option<String>,
    },
    /// The feature's switch is off.
    #[error("the {0} feature is off")]
    FeatureOff(Feature),
}

/// The lifecycle of one integration. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    phase: Phase,
    testing_started_at: Option<DateTime<Utc>>,
    testing_days: u32,
    switch: Switch,
    health: Health,
    features: Features,
    label: Option<Label>,
    rules: ChannelRules,
    deactivated: bool,
    reconcile_plan_confirmed: bool,
    deleted: Option<Tombstone>,
}

type Outcome = Result<Vec<AuditEvent>, LifecycleError>;

impl Lifecycle {
    /// A new integration: Setup, Enabled, Unverified, fulfilments on, a 30-day testing period.
    /// Returns the lifecycle and its `Created` audit event.
    pub fn create(rules: ChannelRules, ctx: &Context) -> (Self, AuditEvent) {
        let lc = Self {
            phase: Phase::Setup,
            testing_started_at: None,
            testing_days: DEFAULT_TESTING_DAYS,
            switch: Switch::Enabled,
            health: Health::Unverified,
            features: Features::default(),
            label: None,
            rules,
            deactivated: false,
            reconcile_plan_confirmed: false,
            deleted: None,
        };
        (lc, event(ctx, Change::Created, None))
    }

    // ----- reading -----

    /// The phase at `now`: Testing becomes Live once the testing period has elapsed, whether or
    /// not [`tick`](Self::tick) has recorded it yet.
    pub fn phase(&self, now: DateTime<Utc>) -> Phase {
        match (self.phase, self.testing_started_at) {
            (Phase::Testing, Some(start)) if now >= start + self.testing_period() => Phase::Live,
            (p, _) => p,
        }
    }

    /// The phase as last recorded.
    pub fn recorded_phase(&self) -> Phase {
        self.phase
    }

    /// When Testing began.
    pub fn testing_started_at(&self) -> Option<DateTime<Utc>> {
        self.testing_started_at
    }

    /// The testing period.
    pub fn testing_period(&self) -> TimeDelta {
        TimeDelta::days(i64::from(self.testing_days))
    }

    /// When the integration goes (or went) Live, once activated.
    pub fn live_at(&self) -> Option<DateTime<Utc>> {
        self.testing_started_at.map(|s| s + self.testing_period())
    }

    /// Enabled or disabled.
    pub fn switch(&self) -> Switch {
        self.switch
    }

    /// Health.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The feature switches.
    pub fn features(&self) -> Features {
        self.features
    }

    /// The label.
    pub fn label(&self) -> Option<&Label> {
        self.label.as_ref()
    }

    /// The channel rules in force.
    pub fn rules(&self) -> ChannelRules {
        self.rules
    }

    /// Whether deactivated (awaiting a new login).
    pub fn is_deactivated(&self) -> bool {
        self.deactivated
    }

    /// The tombstone, when deleted.
    pub fn tombstone(&self) -> Option<&Tombstone> {
        self.deleted.as_ref()
    }

    /// Whether deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }

    /// Whether the reconciler's dry-run plan has been confirmed since it was switched on and
    /// since the label last changed.
    pub fn reconcile_plan_confirmed(&self) -> bool {
        self.reconcile_plan_confirmed
    }

    /// How orders imported now are managed: third-party-managed while fulfilments are off.
    pub fn management(&self) -> Management {
        if self.features.fulfillments {
            Management::Managed
        } else {
            Management::ThirdPartyManaged
        }
    }

    /// Whether any data may be exchanged at `now`, and if not, why.
    pub fn check_exchange(&self, now: DateTime<Utc>) -> Result<(), Blocked> {
        if self.deleted.is_some() {
            return Err(Blocked::Deleted);
        }
        if self.phase(now) == Phase::Setup {
            return Err(Blocked::Setup);
        }
        if self.switch == Switch::Disabled {
            return Err(Blocked::Disabled);
        }
        if self.deactivated {
            return Err(Blocked::Deactivated);
        }
        match &self.health {
            Health::Healthy => Ok(()),
            Health::Unverified => Err(Blocked::Unverified),
            Health::Broken {
                reason,
                channel_message,
                ..
            } => Err(Blocked::Broken {
                reason: *reason,
                channel_message: channel_message.clone(),
            }),
        }
    }

    /// Whether `feature` may act at `now`: data exchange allowed and its switch on.
    pub fn check_feature(&self, feature: Feature, now: DateTime<Utc>) -> Result<(), Blocked> {
        self.check_exchange(now)?;
        if self.features.get(feature) {
            Ok(())
        } else {
            Err(Blocked::FeatureOff(feature))
        }
    }

    // ----- transitions -----

    /// Records Testing → Live once the testing period has elapsed. Every other transition ticks
    /// first, so the audit log always shows the phase change before what followed it.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<AuditEvent> {
        if self.deleted.is_none() && self.phase == Phase::Testing && self.phase(now) == Phase::Live
        {
            self.phase = Phase::Live;
            let at = self.live_at().unwrap_or(now);
            vec![AuditEvent {
                at,
                actor: Actor::System,
                change: Change::PhaseChanged {
                    from: Phase::Testing,
                    to: Phase::Live,
                },
                support_override: None,
            }]
        } else {
            Vec::new()
        }
    }

    /// Runs a transition so that a refused one changes nothing. `begin` records Testing → Live
    /// before the transition's own checks run; if the transition is then refused, that recorded
    /// change must be undone too, or its audit event would be lost with the error (and no later
    /// tick would report it again).
    fn atomically(&mut self, transition: impl FnOnce(&mut Self) -> Outcome) -> Outcome {
        let before = self.clone();
        let outcome = transition(self);
        if outcome.is_err() {
            *self = before;
        }
        outcome
    }

    fn begin(&mut self, ctx: &Context) -> Result<Vec<AuditEvent>, LifecycleError> {
        if self.deleted.is_some() {
            return Err(LifecycleError::Deleted);
        }
        Ok(self.tick(ctx.at))
    }

    fn set_health(&mut self, ctx: &Context, to: Health, events: &mut Vec<AuditEvent>) {
        if self.health.kind() == to.kind() {
            return;
        }
        let (reason, channel_message) = match &to {
            Health::Broken {
                reason,
                channel_message,
                ..
            } => (Some(*reason), channel_message.clone()),
            _ => (None, None),
        };
        events.push(event(
            ctx,
            Change::HealthChanged {
                from: self.health.kind(),
                to: to.kind(),
                reason,
                channel_message,
            },
            None,
        ));
        self.health = to;
    }

    /// Credentials were entered or replaced (setup, or the repair of manual credentials). Health
    /// becomes Unverified until [`verification_succeeded`](Self::verification_succeeded).
    pub fn credentials_entered(&mut self, ctx: &Context) -> Outcome {
        self.atomically(|lc| lc.credentials_entered_inner(ctx))
    }

    fn credentials_entered_inner(&mut self, ctx: &Context) -> Outcome {
        let mut events = self.begin(ctx)?;
        if self.deactivated {
            return Err(LifecycleError::Deactivated);
        }
        events.push(event(ctx, Change::CredentialsEntered, None));
        self.set_health(ctx, Health::Unverified, &mut events);
        Ok(events)
    }

    /// The credentials were rotated (a new secret generated; the old one stopped working at once).
    /// Health becomes Unverified until the new one is verified.
    pub fn rotate_credentials(&mut self, ctx: &Context) -> Outcome {
        self.atomically(|lc| lc.rotate_credentials_inner(ctx))
    }

    fn rotate_credentials_inner(&mut self, ctx: &Context) -> Outcome {
        let mut events = self.begin(ctx)?;
        if self.deactivated {
            return Err(LifecycleError::Deactivated);
        }
        events.push(event(ctx, Change::CredentialsRotated, None));
        self.set_health(ctx, Health::Unverified, &mut events);
        Ok(events)
    }

    /// A call with the credentials succeeded. From Broken this is "connection restored".
    pub fn verification_succeeded(&mut self, ctx: &Context) -> Outcome {
        self.atomically(|lc| lc.verification_succeeded_inner(ctx))
    }

    fn verification_succeeded_inner(&mut self, ctx: &Context) -> Outcome {
        let mut events = self.begin(ctx)?;
        if self.deactivated {
            return Err(LifecycleError::Deactivated);
        }
        self.set_health(ctx, Health::Healthy, &mut events);
        Ok(events)
    }

    /// The channel refused the credentials, a renewal failed, or the account cannot be used.
    /// Already broken: nothing changes and no event is produced, so a break is reported once,
    /// not once per failed attempt.
    pub fn mark_broken(
        &mut self,
        ctx: &Context,
        reason: BrokenReason,
        channel_message: Option<String>,
    ) -> Outcome {
        self.atomically(|lc| lc.mark_broken_inner(ctx, reason, channel_message))
    }

    fn mark_broken_inner(
        &mut self,
        ctx: &Context,
        reason: BrokenReason,
        channel_message: Option<String>,
    ) -> Outcome {
        let mut events = self.begin(ctx)?;
        if self.deactivated {
            return Err(LifecycleError::Deactivated);
        }
        self.set_health(
            ctx,
            Health::Broken {
                reason,
                since: ctx.at,
                channel_message,
            },
            &mut events,
        );
        Ok(events)
    }

    /// Setup → Testing. Needs verified (healthy) credentials.
    pub fn activate(&mut self, ctx: &Context) -> Outcome {
        self.atomically(|lc| lc.activate_inner(ctx))
    }

    fn activate_inner(&mut self, ctx: &Context) -> Outcome {
        let mut events = self.begin(ctx)?;
        if self.phase != Phase::Setup {
            return Err(LifecycleError::AlreadyActive(self.phase));
        }
        if self.deactivated {
            return Err(LifecycleError::Deactivated);
        }
        if self.health != Health::Healthy {
            return Err(LifecycleError::NotVerified);
        }
        self.phase = Phase::Testing;
        self.testing_started_at = Some(ctx.at);
        events.push(event(
            ctx,
            Change::PhaseChanged {
                from: Phase::Setup,
                to: Phase::Testing,
            },
            None,
        ));
        // A zero-day testing period goes Live at once.
        events.extend(self.tick(ctx.at));
        Ok(events)
    }

    /// Sets the testing period in days (Setup or Testing only). Shortening it in Testing may make
    /// the integration Live at once.
    pub fn set_testing_period(&mut self, ctx: &Context, days: u32) -> Outcome {
        self.atomically(|lc| lc.set_testing_period_inner(ctx, days))
    }

    fn set_testing_period_inner(&mut self, ctx: &Context, days: u32) -> Outcome {
        let mut events = self.begin(ctx)?;
        if self.phase == Phase::Live {
            return Err(LifecycleError::AlreadyLive);
        }
        if days > MAX_TESTING_DAYS {
            return Err(LifecycleError::InvalidTestingPeriod(days));
        }
        if self.testing_days != days {
            self.testing_days = days;
            events.push(event(ctx, Change::TestingPeriodSet { days }, None));
            events.extend(self.tick(ctx.at));
        }
        Ok(events)
    }

    /// Enables the integration. Already enabled: no change.
    pub fn enable(&mut self, ctx: &Context) -> Outcome {
        self.set_switch(ctx, Switch::Enabled)
    }

    /// Disables the integration: downloads and updates stop until enabled again.
    pub fn disable(&mut self, ctx: &Context) -> Outcome {
        self.set_switch(ctx, Switch::Disabled)
    }

    fn set_switch(&mut self, ctx: &Context, to: Switch) -> Outcome {
        let mut events = self.begin(ctx)?;
        if self.switch != to {
            self.switch = to;
            events.push(event(ctx, Change::SwitchChanged { to }, None));
        }
        Ok(events)
    }

    /// Turns a feature on or off, under the channel's rules and, in Live, the override rule.
    ///
    /// - The reconciler needs the channel's support and the listings feature; listings cannot go
    ///   off while it is on. Switching it on arms a dry run: its plan must be confirmed before it
    ///   removes anything.
    /// - Listings need a label.
    /// - Fulfilments cannot go off where the channel requires fulfilment through the integration.
    /// - In Live, every change except turning the reconciler or fulfilments *on* needs a
    ///   [`SupportOverride`], recorded in the audit event.
    pub fn set_feature(
        &mut self,
        ctx: &Context,
        feature: Feature,
        on: bool,
        support_override: Option<SupportOverride>,
    ) -> Outcome {
        self.atomically(|lc| lc.set_feature_inner(ctx, feature, on, support_override))
    }

    fn set_feature_inner(
        &mut self,
        ctx: &Context,
        feature: Feature,
        on: bool,
        support_override: Option<SupportOverride>,
    ) -> Outcome {
        let mut events = self.begin(ctx)?;
        if self.features.get(feature) == on {
            return Ok(events);
        }
        match (feature, on) {
            (Feature::Reconciler, true) => {
                if !self.rules.reconcile_supported {
                    return Err(LifecycleError::ReconcilerUnsupported);
                }
                if !self.features.listings {
                    return Err(LifecycleError::ReconcilerNeedsListings);
                }
            }
            (Feature::Listings, false) if self.features.reconciler => {
                return Err(LifecycleError::ListingsNeededByReconciler);
            }
            (Feature::Listings, true) if self.label.is_none() => {
                return Err(LifecycleError::LabelRequired);
            }
            (Feature::Fulfillments, false) if self.rules.fulfillment_required => {
                return Err(LifecycleError::FulfillmentRequired);
            }
            _ => {}
        }
        let free_in_live = on && matches!(feature, Feature::Reconciler | Feature::Fulfillments);
        let support_override = self.check_override(ctx, support_override, free_in_live, || {
            format!("turning {feature} {}", if on { "on" } else { "off" })
        })?;
        self.features.set(feature, on);
        if feature == Feature::Reconciler {
            self.reconcile_plan_confirmed = false;
        }
        events.push(event(
            ctx,
            Change::FeatureChanged { feature, on },
            support_override,
        ));
        Ok(events)
    }

    /// Sets or clears the label. In Live this needs a [`SupportOverride`]. The listing feed cannot
    /// lose its label while listings are on. A change re-arms the reconciler's dry run: its next
    /// plan must be confirmed before it removes anything.
    pub fn set_label(
        &mut self,
        ctx: &Context,
        label: Option<Label>,
        support_override: Option<SupportOverride>,
    ) -> Outcome {
        self.atomically(|lc| lc.set_label_inner(ctx, label, support_override))
    }

    fn set_label_inner(
        &mut self,
        ctx: &Context,
        label: Option<Label>,
        support_override: Option<SupportOverride>,
    ) -> Outcome {
        let mut events = self.begin(ctx)?;
        if self.label == label {
            return Ok(events);
        }
        if label.is_none() && self.features.listings {
            return Err(LifecycleError::LabelRequired);
        }
        let support_override = self.check_override(ctx, support_override, false, || {
            "changing the label".to_owned()
        })?;
        let from = std::mem::replace(&mut self.label, label.clone());
        // Another label is another feed: the reconciler's next plan is a dry run to confirm.
        self.reconcile_plan_confirmed = false;
        events.push(event(
            ctx,
            Change::LabelChanged { from, to: label },
            support_override,
        ));
        Ok(events)
    }

    fn check_override(
        &self,
        ctx: &Context,
        support_override: Option<SupportOverride>,
        free_in_live: bool,
        describe: impl FnOnce() -> String,
    ) -> Result<Option<SupportOverride>, LifecycleError> {
        if let Some(o) = &support_override {
            if !o.is_complete() {
                return Err(LifecycleError::IncompleteOverride);
            }
            // Only support may authorise what Live otherwise refuses ("contact our Support
            // team"); a host grants that power by acting as `Actor::Support`.
            if !matches!(ctx.actor, Actor::Support(_)) {
                return Err(LifecycleError::SupportOnly { change: describe() });
            }
        }
        if self.phase == Phase::Live && !free_in_live && support_override.is_none() {
            return Err(LifecycleError::OverrideRequired { change: describe() });
        }
        Ok(support_override)
    }

    /// Login-type repair, step one: drops the session; no data flows until reactivated and logged
    /// in again.
    pub fn deactivate(&mut self, ctx: &Context) -> Outcome {
        self.atomically(|lc| lc.deactivate_inner(ctx))
    }

    fn deactivate_inner(&mut self, ctx: &Context) -> Outcome {
        let mut events = self.begin(ctx)?;
        if !self.rules.login_authorization {
            return Err(LifecycleError::NotLoginType);
        }
        if self.deactivated {
            return Err(LifecycleError::Deactivated);
        }
        self.deactivated = true;
        events.push(event(ctx, Change::Deactivated, None));
        self.set_health(ctx, Health::Unverified, &mut events);
        Ok(events)
    }

    /// Login-type repair, step two: the host now starts the channel's authorization
    /// ([`Channel::begin_authorization`](crate::Channel::begin_authorization)); the new
    /// credentials are entered and verified as usual.
    pub fn reactivate(&mut self, ctx: &Context) -> Outcome {
        self.atomically(|lc| lc.reactivate_inner(ctx))
    }

    fn reactivate_inner(&mut self, ctx: &Context) -> Outcome {
        let mut events = self.begin(ctx)?;
        if !self.deactivated {
            return Err(LifecycleError::NotDeactivated);
        }
        self.deactivated = false;
        events.push(event(ctx, Change::Reactivated, None));
        Ok(events)
    }

    /// The host confirmed the reconciler's dry-run plan; from now on it may remove listings.
    pub fn confirm_reconcile_plan(&mut self, ctx: &Context) -> Outcome {
        self.atomically(|lc| lc.confirm_reconcile_plan_inner(ctx))
    }

    fn confirm_reconcile_plan_inner(&mut self, ctx: &Context) -> Outcome {
        let mut events = self.begin(ctx)?;
        if !self.features.reconciler {
            return Err(LifecycleError::ReconcilerOff);
        }
        if !self.reconcile_plan_confirmed {
            self.reconcile_plan_confirmed = true;
            events.push(event(ctx, Change::ReconcilePlanConfirmed, None));
        }
        Ok(events)
    }

    /// Step one of deleting: what it means. `unfulfilled_orders` are this integration's orders not
    /// yet fulfilled, which the seller stays responsible for.
    pub fn plan_delete(
        &self,
        unfulfilled_orders: Vec<ChannelOrderId>,
        now: DateTime<Utc>,
    ) -> Result<DeletePlan, LifecycleError> {
        if self.deleted.is_some() {
            return Err(LifecycleError::Deleted);
        }
        let mut notices = vec![
            "Deleting stops all listing updates and order downloads for this integration.".to_owned(),
            "Connecting the same account again creates a new integration; its orders will not be linked to this one's.".to_owned(),
        ];
        if !unfulfilled_orders.is_empty() {
            notices.push(format!(
                "You stay responsible for {} unfulfilled order(s) of this integration.",
                unfulfilled_orders.len()
            ));
        }
        Ok(DeletePlan {
            unfulfilled_orders,
            held_orders: Vec::new(),
            third_party_orders: Vec::new(),
            notices,
            planned_at: now,
        })
    }

    /// Step two of deleting: the integration becomes a tombstone. Terminal.
    pub fn delete(&mut self, ctx: &Context, confirmation: DeleteConfirmation) -> Outcome {
        let mut events = self.begin(ctx)?;
        self.deleted = Some(Tombstone {
            at: ctx.at,
            by: ctx.actor.clone(),
        });
        events.push(event(
            ctx,
            Change::Deleted {
                unfulfilled_orders: confirmation.plan.unfulfilled_orders,
            },
            None,
        ));
        Ok(events)
    }

    /// Applies an [`Event`] through the matching named transition.
    pub fn apply(&mut self, ctx: &Context, ev: Event) -> Outcome {
        match ev {
            Event::CredentialsEntered => self.credentials_entered(ctx),
            Event::RotateCredentials => self.rotate_credentials(ctx),
            Event::VerificationSucceeded => self.verification_succeeded(ctx),
            Event::MarkBroken {
                reason,
                channel_message,
            } => self.mark_broken(ctx, reason, channel_message),
            Event::Activate => self.activate(ctx),
            Event::SetTestingPeriod { days } => self.set_testing_period(ctx, days),
            Event::Enable => self.enable(ctx),
            Event::Disable => self.disable(ctx),
            Event::SetFeature {
                feature,
                on,
                support_override,
            } => self.set_feature(ctx, feature, on, support_override),
            Event::SetLabel {
                label,
                support_override,
            } => self.set_label(ctx, label, support_override),
            Event::Deactivate => self.deactivate(ctx),
            Event::Reactivate => self.reactivate(ctx),
            Event::ConfirmReconcilePlan => self.confirm_reconcile_plan(ctx),
            Event::Delete { confirmation } => self.delete(ctx, confirmation),
            Event::Tick => {
                if self.deleted.is_some() {
                    return Err(LifecycleError::Deleted);
                }
                Ok(self.tick(ctx.at))
            }
        }
    }
}

/// Every transition as a value, for replaying, tables and property tests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// [`Lifecycle::credentials_entered`].
    CredentialsEntered,
    /// [`Lifecycle::rotate_credentials`].
    RotateCredentials,
    /// [`Lifecycle::verification_succeeded`].
    VerificationSucceeded,
    /// [`Lifecycle::mark_broken`].
    MarkBroken {
        /// Diagnosis.
        reason: BrokenReason,
        /// The channel's message.
        channel_message: Option<String>,
    },
    /// [`Lifecycle::activate`].
    Activate,
    /// [`Lifecycle::set_testing_period`].
    SetTestingPeriod {
        /// Days.
        days: u32,
    },
    /// [`Lifecycle::enable`].
    Enable,
    /// [`Lifecycle::disable`].
    Disable,
    /// [`Lifecycle::set_feature`].
    SetFeature {
        /// Which.
        feature: Feature,
        /// On or off.
        on: bool,
        /// Override.
        support_override: Option<SupportOverride>,
    },
    /// [`Lifecycle::set_label`].
    SetLabel {
        /// The label.
        label: Option<Label>,
        /// Override.
        support_override: Option<SupportOverride>,
    },
    /// [`Lifecycle::deactivate`].
    Deactivate,
    /// [`Lifecycle::reactivate`].
    Reactivate,
    /// [`Lifecycle::confirm_reconcile_plan`].
    ConfirmReconcilePlan,
    /// [`Lifecycle::delete`] with a confirmed [`DeletePlan`]. Through the engine, the plan is
    /// checked against the orders the seller is responsible for at that moment
    /// ([`Engine::delete`](crate::Engine::delete)).
    Delete {
        /// The confirmed plan.
        confirmation: DeleteConfirmation,
    },
    /// [`Lifecycle::tick`].
    Tick,
}

fn event(ctx: &Context, change: Change, support_override: Option<SupportOverride>) -> AuditEvent {
    AuditEvent {
        at: ctx.at,
        actor: ctx.actor.clone(),
        change,
        support_override,
    }
}
