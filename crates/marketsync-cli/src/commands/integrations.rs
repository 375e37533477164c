//! `marketsync integrations …`: list, show, connect, verify, enable, disable, activate,
//! deactivate, reactivate, label, feature, delete.
//!
//! The `--json` shapes are documented in the crate's README ("integrations").

use std::io::{BufRead, IsTerminal, Read};
use std::time::Duration;

use chrono::{DateTime, Utc};
use marketsync::channel::AccountInfo;
use marketsync::lifecycle::{DeletePlan, Event, Switch};
use marketsync::{
    AuditEvent, AuthorizationCallback, AuthorizationRequest, AuthorizationStart, ChannelKind,
    Credentials, Currency, ExposeSecret, Feature, Features, Health, IntegrationId,
    IntegrationRecord, IntegrationSettings, Label, Phase, SecretString, SupportOverride,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::adapters;
use crate::args::{
    ChannelArg, ConnectArgs, DeleteArgs, FeatureArg, IntegrationsArgs, IntegrationsCommand, OnOff,
    SupportOverrideArgs,
};
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Runs `marketsync integrations`.
pub async fn run(ctx: &Context, args: IntegrationsArgs, out: Output) -> Result<(), CliError> {
    match args.command {
        IntegrationsCommand::List { all } => list(ctx, all, out).await,
        IntegrationsCommand::Show(r) => show(ctx, &r.integration, out).await,
        IntegrationsCommand::Connect(a) => connect(ctx, a, out).await,
        IntegrationsCommand::Verify(r) => verify(ctx, &r.integration, out).await,
        IntegrationsCommand::Enable(r) => step(ctx, &r.integration, Event::Enable, out).await,
        IntegrationsCommand::Disable(r) => step(ctx, &r.integration, Event::Disable, out).await,
        IntegrationsCommand::Activate(r) => step(ctx, &r.integration, Event::Activate, out).await,
        IntegrationsCommand::Deactivate(r) => {
            step(ctx, &r.integration, Event::Deactivate, out).await
        }
        IntegrationsCommand::Reactivate(a) => {
            reactivate(ctx, &a.integration, a.login_timeout_secs, out).await
        }
        IntegrationsCommand::Label(a) => {
            let label = Label::new(a.label.as_str())
                .map_err(|e| CliError::Usage(format!("{e}; give a label such as `shop-a`")))?;
            let event = Event::SetLabel {
                label: Some(label),
                support_override: support_override(a.support),
            };
            step(ctx, &a.integration, event, out).await
        }
        IntegrationsCommand::Feature(a) => {
            let event = Event::SetFeature {
                feature: feature(a.feature),
                on: a.state == OnOff::On,
                support_override: support_override(a.support),
            };
            step(ctx, &a.integration, event, out).await
        }
        IntegrationsCommand::Delete(a) => delete(ctx, a, out).await,
    }
}

// ----- what is printed -----

/// One integration as `list` and `show` print it (`--json`: stable field names).
#[derive(Debug, Serialize)]
pub struct IntegrationView {
    /// The id.
    pub id: IntegrationId,
    /// The seller's name for it.
    pub name: String,
    /// The marketplace (`reverb`, `channel_advisor`, `offer_up`, `allegro`, `tradera`).
    pub channel: ChannelKind,
    /// `setup`, `testing` or `live` (now).
    pub phase: Phase,
    /// `enabled` or `disabled`.
    pub switch: Switch,
    /// `{"state": "unverified" | "healthy"}` or `{"state": "broken", "reason", "since",
    /// "channel_message"}`.
    pub health: Health,
    /// The four feature switches.
    pub features: Features,
    /// The label, if set.
    pub label: Option<Label>,
    /// Deactivated for a login-type repair.
    pub deactivated: bool,
    /// When it was deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
    /// When the testing period started.
    pub testing_started_at: Option<DateTime<Utc>>,
    /// When it becomes (or became) Live.
    pub live_at: Option<DateTime<Utc>>,
    /// The currency of orders sent without one.
    pub default_currency: Currency,
}

impl IntegrationView {
    fn of(rec: &IntegrationRecord, now: DateTime<Utc>) -> Self {
        let lc = &rec.lifecycle;
        Self {
            id: rec.id,
            name: rec.name.clone(),
            channel: rec.channel,
            phase: lc.phase(now),
            switch: lc.switch(),
            health: lc.health().clone(),
            features: lc.features(),
            label: lc.label().cloned(),
            deactivated: lc.is_deactivated(),
            deleted_at: lc.tombstone().map(|t| t.at),
            testing_started_at: lc.testing_started_at(),
            live_at: lc.live_at(),
            default_currency: rec.settings.default_currency,
        }
    }

    fn health_text(&self) -> String {
        match &self.health {
            Health::Unverified => "unverified".to_owned(),
            Health::Healthy => "healthy".to_owned(),
            Health::Broken {
                reason,
                channel_message,
                ..
            } => match channel_message {
                Some(m) => format!("broken ({reason}: {m})"),
                None => format!("broken ({reason})"),
            },
        }
    }

    fn features_text(&self) -> String {
        let on: Vec<String> = Feature::ALL
            .iter()
            .filter(|f| self.features.get(**f))
            .map(|f| f.to_string())
            .collect();
        if on.is_empty() {
            "none".to_owned()
        } else {
            on.join(",")
        }
    }

    fn state_text(&self) -> String {
        if self.deleted_at.is_some() {
            return "deleted".to_owned();
        }
        let mut s = format!("{:?}", self.phase).to_lowercase();
        if self.switch == Switch::Disabled {
            s.push_str(", disabled");
        }
        if self.deactivated {
            s.push_str(", deactivated");
        }
        s
    }

    fn text(&self) -> String {
        let mut t = String::new();
        let mut line = |k: &str, v: String| t.push_str(&format!("{k:<13} {v}\n"));
        line("id", self.id.to_string());
        line("name", self.name.clone());
        line("channel", self.channel.to_string());
        line("state", self.state_text());
        line("health", self.health_text());
        line("features", self.features_text());
        line(
            "label",
            self.label
                .as_ref()
                .map_or("(none)".into(), |l| l.to_string()),
        );
        line("currency", self.default_currency.to_string());
        if let Some(at) = self.testing_started_at {
            line("testing from", at.to_rfc3339());
        }
        if let Some(at) = self.live_at {
            line("live at", at.to_rfc3339());
        }
        if let Some(at) = self.deleted_at {
            line("deleted at", at.to_rfc3339());
        }
        t
    }
}

/// `integrations show --json`: the view and the settings.
#[derive(Debug, Serialize)]
struct ShowDoc {
    integration: IntegrationView,
    settings: IntegrationSettings,
}

/// What a lifecycle step prints: the integration after it, and the audit events it wrote.
#[derive(Debug, Serialize)]
struct StepDoc {
    integration: IntegrationView,
    audit: Vec<AuditEvent>,
}

/// `integrations connect --json`.
#[derive(Debug, Serialize)]
struct ConnectDoc {
    integration: IntegrationView,
    /// What the channel said about the account, when verified.
    account: Option<AccountInfo>,
}

/// `integrations verify --json`.
#[derive(Debug, Serialize)]
struct VerifyDoc {
    integration: IntegrationView,
    account: AccountInfo,
}

/// `integrations delete --json`.
#[derive(Debug, Serialize, serde::Deserialize)]
struct DeleteDoc {
    integration: IntegrationId,
    plan: DeletePlan,
    deleted: bool,
}

// ----- the commands -----

async fn view(ctx: &Context, id: IntegrationId) -> Result<IntegrationView, CliError> {
    let rec = ctx.engine.integration(id).await?;
    Ok(IntegrationView::of(&rec, ctx.engine.clock().now()))
}

async fn list(ctx: &Context, all: bool, out: Output) -> Result<(), CliError> {
    let now = ctx.engine.clock().now();
    let integrations: Vec<IntegrationView> = ctx
        .store
        .integrations()
        .await?
        .iter()
        .filter(|r| all || !r.lifecycle.is_deleted())
        .map(|r| IntegrationView::of(r, now))
        .collect();
    #[derive(Serialize)]
    struct ListDoc {
        integrations: Vec<IntegrationView>,
    }
    out.print(&ListDoc { integrations }, |doc| {
        if doc.integrations.is_empty() {
            return "no integrations; connect one with `marketsync integrations connect`\n"
                .to_owned();
        }
        let mut t = format!(
            "{:<36}  {:<20}  {:<15}  {:<22}  {:<10}  {}\n",
            "ID", "NAME", "CHANNEL", "STATE", "HEALTH", "FEATURES"
        );
        for i in &doc.integrations {
            let health = match i.health {
                Health::Broken { .. } => "broken",
                Health::Healthy => "healthy",
                Health::Unverified => "unverified",
            };
            t.push_str(&format!(
                "{:<36}  {:<20}  {:<15}  {:<22}  {:<10}  {}\n",
                i.id,
                i.name,
                i.channel.to_string(),
                i.state_text(),
                health,
                i.features_text()
            ));
        }
        t
    })
}

async fn show(ctx: &Context, selector: &str, out: Output) -> Result<(), CliError> {
    let rec = ctx.integration(selector).await?;
    let doc = ShowDoc {
        integration: IntegrationView::of(&rec, ctx.engine.clock().now()),
        settings: rec.settings.clone(),
    };
    out.print(&doc, |d| {
        let mut t = d.integration.text();
        if let Some(Value::Object(adapter)) = &d.settings.adapter {
            for (k, v) in adapter {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                t.push_str(&format!("  {k:<24} {v}\n"));
            }
        }
        t
    })
}

/// One lifecycle event, on behalf of the operator.
async fn step(ctx: &Context, selector: &str, event: Event, out: Output) -> Result<(), CliError> {
    let rec = ctx.integration(selector).await?;
    let audit = ctx.engine.apply(rec.id, ctx.actor.clone(), event).await?;
    let doc = StepDoc {
        integration: view(ctx, rec.id).await?,
        audit,
    };
    out.print(&doc, |d| {
        let mut t = d.integration.text();
        if d.audit.is_empty() {
            t.push_str("(nothing changed)\n");
        }
        t
    })
}

async fn verify(ctx: &Context, selector: &str, out: Output) -> Result<(), CliError> {
    let rec = ctx.attached(selector).await?;
    let account = ctx.engine.verify(rec.id, ctx.actor.clone()).await?;
    let doc = VerifyDoc {
        integration: view(ctx, rec.id).await?,
        account,
    };
    out.print(&doc, |d| {
        format!(
            "{}: healthy; the channel knows the account as {}{}\n",
            d.integration.name,
            d.account.account_id,
            d.account
                .name
                .as_ref()
                .map_or(String::new(), |n| format!(" ({n})"))
        )
    })
}

fn feature(f: FeatureArg) -> Feature {
    match f {
        FeatureArg::Listings => Feature::Listings,
        FeatureArg::Reconciler => Feature::Reconciler,
        FeatureArg::Orders => Feature::Orders,
        FeatureArg::Fulfillments => Feature::Fulfillments,
    }
}

fn support_override(a: SupportOverrideArgs) -> Option<SupportOverride> {
    match (a.support_override, a.reason) {
        (Some(by), Some(reason)) => Some(SupportOverride::new(by, reason)),
        _ => None,
    }
}

// ----- connect -----

fn kind_of(c: ChannelArg) -> ChannelKind {
    match c {
        ChannelArg::Reverb => ChannelKind::Reverb,
        ChannelArg::Channeladvisor => ChannelKind::ChannelAdvisor,
        ChannelArg::Offerup => ChannelKind::OfferUp,
        ChannelArg::Allegro => ChannelKind::Allegro,
        ChannelArg::Tradera => ChannelKind::Tradera,
    }
}

fn default_currency(kind: ChannelKind) -> Currency {
    match kind {
        ChannelKind::Allegro => Currency::PLN,
        ChannelKind::Tradera => Currency::SEK,
        _ => Currency::USD,
    }
}

/// `--setting KEY=VALUE`: the value as JSON when it parses, else as text.
fn parse_settings(settings: &[String]) -> Result<Map<String, Value>, CliError> {
    let mut map = Map::new();
    for s in settings {
        let Some((key, value)) = s.split_once('=') else {
            return Err(CliError::Usage(format!(
                "`--setting {s}` is not KEY=VALUE; write e.g. `--setting shipping_profile_id=1234`"
            )));
        };
        let key = key.trim();
        if adapters_secret_field(key) {
            return Err(CliError::Usage(format!(
                "`{key}` is a secret and is never given on the command line: the seller's secret is read with --secret-stdin, --secret-env or a prompt, the application's from the config file"
            )));
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        map.insert(key.to_owned(), value);
    }
    Ok(map)
}

fn adapters_secret_field(key: &str) -> bool {
    matches!(
        key,
        "token" | "refresh_token" | "shared_secret" | "client_secret" | "app_key" | "session"
    )
}

/// The seller's secret, from stdin, an environment variable, or a prompt without echo.
fn read_secret(args: &ConnectArgs, what: &str) -> Result<SecretString, CliError> {
    let text = if args.secret_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else if let Some(name) = &args.secret_env {
        std::env::var(name).map_err(|_| {
            CliError::Usage(format!(
                "the environment variable {name} (--secret-env) is not set; set it to the {what}"
            ))
        })?
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{what} (not shown): "))?
    } else {
        return Err(CliError::Usage(format!(
            "no terminal to ask for the {what}: give it with --secret-stdin or --secret-env NAME"
        )));
    };
    let text = text.trim_end_matches(['\n', '\r']).to_owned();
    if text.trim().is_empty() {
        return Err(CliError::Usage(format!("the {what} is empty")));
    }
    Ok(SecretString::from(text))
}

async fn connect(ctx: &Context, args: ConnectArgs, out: Output) -> Result<(), CliError> {
    let kind = kind_of(args.channel);
    let currency = match &args.currency {
        Some(c) => Currency::new(c).map_err(|e| {
            CliError::Usage(format!(
                "--currency: {e}; give an ISO 4217 code such as USD"
            ))
        })?,
        None => default_currency(kind),
    };
    let label = match &args.label {
        Some(l) => {
            Some(Label::new(l.as_str()).map_err(|e| CliError::Usage(format!("--label: {e}")))?)
        }
        None => None,
    };
    if ctx.engine.integration_named(&args.name).await?.is_some() {
        return Err(CliError::Refused(format!(
            "an integration named `{}` exists already; choose another --name, or repair that one (`marketsync integrations show {}`)",
            args.name, args.name
        )));
    }

    let mut settings = parse_settings(&args.settings)?;
    if let Some(url) = &args.base_url {
        settings.insert("base_url".into(), Value::String(url.clone()));
    }
    settings
        .entry("connection_name")
        .or_insert_with(|| Value::String(args.name.clone()));
    let login = matches!(kind, ChannelKind::Allegro | ChannelKind::Tradera);
    let secret = match kind {
        ChannelKind::Reverb => {
            settings
                .entry("default_currency")
                .or_insert_with(|| Value::String(currency.to_string()));
            Some(read_secret(&args, "Reverb personal access token")?)
        }
        ChannelKind::ChannelAdvisor | ChannelKind::OfferUp => {
            let Some(profile) = args.profile_id else {
                return Err(CliError::Usage(
                    "--profile-id is required for ChannelAdvisor: the seller's profile id".into(),
                ));
            };
            settings.insert("profile_id".into(), Value::from(profile));
            Some(read_secret(&args, "ChannelAdvisor refresh token")?)
        }
        _ => {
            if args.secret_stdin || args.secret_env.is_some() {
                return Err(CliError::Usage(format!(
                    "{kind} connects by logging in at {kind}: no secret is read; leave out --secret-stdin/--secret-env"
                )));
            }
            None
        }
    };

    let (channel, stored) = adapters::new_channel(&ctx.config, kind, settings, secret.as_ref())?;
    let mut integration_settings = IntegrationSettings::new(kind, currency);
    integration_settings.adapter = Some(stored);
    let id = ctx
        .engine
        .create_integration(
            args.name.clone(),
            channel,
            integration_settings,
            ctx.actor.clone(),
        )
        .await?;
    out.note(format!("created integration {id} ({})", args.name));

    let mut account = None;
    let entered = match (kind, &secret) {
        (ChannelKind::Reverb, Some(token)) => {
            Some(Credentials::api_token(token.expose_secret().to_owned()))
        }
        (ChannelKind::ChannelAdvisor | ChannelKind::OfferUp, Some(token)) => {
            Some(Credentials::OAuth(marketsync::credentials::OAuthTokens {
                access_token: None,
                access_expires_at: None,
                refresh_token: token.clone(),
                refresh_expires_at: None,
                profile_id: args.profile_id.map(|p| p.to_string()),
            }))
        }
        _ => None,
    };
    let after_create = |e: CliError| created_but(e, id, login);
    if let Some(credentials) = entered {
        ctx.engine
            .enter_credentials(id, &credentials, ctx.actor.clone())
            .await
            .map_err(|e| after_create(e.into()))?;
        if args.verify {
            account = Some(
                ctx.engine
                    .verify(id, ctx.actor.clone())
                    .await
                    .map_err(|e| after_create(e.into()))?,
            );
        }
    } else if login {
        let request = AuthorizationRequest {
            redirect_uri: None,
            device_flow: kind == ChannelKind::Allegro,
        };
        let start = ctx
            .engine
            .begin_authorization(id, &request)
            .await
            .map_err(|e| after_create(e.into()))?;
        account = Some(
            log_in(ctx, id, kind, start, args.login_timeout_secs, out)
                .await
                .map_err(after_create)?,
        );
    }
    if let Some(label) = label {
        ctx.engine
            .set_label(id, ctx.actor.clone(), label)
            .await
            .map_err(|e| after_create(e.into()))?;
    }
    let doc = ConnectDoc {
        integration: view(ctx, id).await?,
        account,
    };
    out.print(&doc, |d| {
        let mut t = d.integration.text();
        if d.account.is_none() {
            t.push_str(&format!(
                "next: check the credentials with `marketsync integrations verify {id}`\n"
            ));
        }
        t.push_str(&format!(
            "then: set a label (`marketsync integrations label {id} LABEL`), map shipping (`marketsync mappings shipping add {id} …`) and activate (`marketsync integrations activate {id}`)\n"
        ));
        t
    })
}

/// An error after the integration was created: the message says it exists and how to finish
/// connecting it.
fn created_but(e: CliError, id: IntegrationId, login: bool) -> CliError {
    let next = if login {
        format!(
            "integration {id} was created; log in again with `marketsync integrations deactivate {id}` then `marketsync integrations reactivate {id}`"
        )
    } else {
        format!(
            "integration {id} was created; fix the cause, delete it (`marketsync integrations delete {id} --confirm`) and connect again"
        )
    };
    let with = |m: String| format!("{m} ({next})");
    match e {
        CliError::Usage(m) => CliError::Usage(with(m)),
        CliError::Config(m) => CliError::Config(with(m)),
        CliError::NotFound(m) => CliError::NotFound(with(m)),
        CliError::Refused(m) => CliError::Refused(with(m)),
        CliError::Channel(m) => CliError::Channel(with(m)),
        CliError::Store(m) => CliError::Store(with(m)),
        CliError::Other(m) => CliError::Other(with(m)),
    }
}

/// A login-type connection: shows the seller where to log in, waits for the login to
/// complete, and returns what the channel says about the account (the engine stores the
/// sealed session and verifies it).
async fn log_in(
    ctx: &Context,
    id: IntegrationId,
    kind: ChannelKind,
    start: AuthorizationStart,
    timeout_secs: u64,
    out: Output,
) -> Result<AccountInfo, CliError> {
    out.prompt(format!("Log in at {kind}: {}", start.url));
    if let Some(code) = &start.user_code {
        out.prompt(format!("and enter the code {code}"));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_secs);
    if start.user_code.is_some() {
        // Device flow: poll until the seller has allowed access.
        let poll = start
            .pending
            .poll_interval
            .unwrap_or(Duration::from_secs(5))
            .max(Duration::from_millis(200));
        out.prompt("waiting for the login to complete…");
        loop {
            let done = ctx
                .engine
                .complete_authorization(
                    id,
                    &start.pending,
                    &AuthorizationCallback::default(),
                    ctx.actor.clone(),
                )
                .await?;
            if let Some(account) = done {
                return Ok(account);
            }
            if tokio::time::Instant::now() + poll > deadline {
                return Err(CliError::Channel(format!(
                    "the login at {kind} did not complete within {timeout_secs} s; start it again"
                )));
            }
            tokio::time::sleep(poll).await;
        }
    }
    // A login page that sends the browser back with parameters (Tradera's token login): the
    // seller pastes the address they were sent back to, or just the user id.
    out.prompt(
        "After logging in, paste the address you were sent back to (or the userId it shows), then press Enter:",
    );
    let line = tokio::time::timeout_at(
        deadline,
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map(|_| line)
        }),
    )
    .await
    .map_err(|_| {
        CliError::Channel(format!(
            "the login at {kind} did not complete within {timeout_secs} s; start it again"
        ))
    })?
    .map_err(|e| CliError::Other(e.to_string()))??;
    let callback = callback_from(line.trim())?;
    ctx.engine
        .complete_authorization(id, &start.pending, &callback, ctx.actor.clone())
        .await?
        .ok_or_else(|| {
            CliError::Channel(format!(
                "{kind} has not completed the login yet; log in at the page, then start again"
            ))
        })
}

/// The parameters of the address the login page sent the browser back to, or a bare user id.
fn callback_from(text: &str) -> Result<AuthorizationCallback, CliError> {
    if text.is_empty() {
        return Err(CliError::Usage(
            "nothing was pasted: paste the address you were sent back to after logging in".into(),
        ));
    }
    if let Ok(url) = url::Url::parse(text) {
        let params: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if !params.is_empty() {
            return Ok(AuthorizationCallback::from_params(params));
        }
    }
    Ok(AuthorizationCallback::from_params([("userId", text)]))
}

async fn reactivate(
    ctx: &Context,
    selector: &str,
    timeout_secs: u64,
    out: Output,
) -> Result<(), CliError> {
    let rec = ctx.attached(selector).await?;
    let request = AuthorizationRequest {
        redirect_uri: None,
        device_flow: rec.channel == ChannelKind::Allegro,
    };
    let start = ctx
        .engine
        .reactivate(rec.id, ctx.actor.clone(), &request)
        .await?;
    let account = log_in(ctx, rec.id, rec.channel, start, timeout_secs, out).await?;
    let doc = ConnectDoc {
        integration: view(ctx, rec.id).await?,
        account: Some(account),
    };
    out.print(&doc, |d| d.integration.text())
}

// ----- delete -----

async fn delete(ctx: &Context, args: DeleteArgs, out: Output) -> Result<(), CliError> {
    let rec = ctx.integration(&args.integration).await?;
    let plan = match &args.plan {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::Usage(format!(
                    "--plan {}: cannot read it: {e}; write the plan with `marketsync integrations delete {} --json > FILE`",
                    path.display(),
                    rec.id
                ))
            })?;
            read_plan(&text).map_err(|e| {
                CliError::Usage(format!(
                    "--plan {}: not a delete plan as `integrations delete --json` prints it: {e}",
                    path.display()
                ))
            })?
        }
        None => ctx.engine.plan_delete(rec.id).await?,
    };
    let deleted = if args.confirm {
        ctx.engine
            .delete(rec.id, plan.clone().confirm(), ctx.actor.clone())
            .await?;
        true
    } else {
        false
    };
    let doc = DeleteDoc {
        integration: rec.id,
        plan,
        deleted,
    };
    out.print(&doc, |d| {
        let mut t = format!("Deleting {} ({}):\n", rec.name, d.integration);
        t.push_str(&format!(
            "  unfulfilled orders: {}\n  held orders: {}\n  third-party orders: {}\n",
            ids(&d.plan.unfulfilled_orders),
            ids(&d.plan.held_orders),
            ids(&d.plan.third_party_orders)
        ));
        for n in &d.plan.notices {
            t.push_str(&format!("  - {n}\n"));
        }
        if d.deleted {
            t.push_str("deleted; its orders stay readable.\n");
        } else {
            t.push_str(&format!(
                "nothing was deleted: run `marketsync integrations delete {} --confirm` to carry it out\n",
                d.integration
            ));
        }
        t
    })
}

fn ids(orders: &[marketsync::ChannelOrderId]) -> String {
    if orders.is_empty() {
        "none".to_owned()
    } else {
        orders
            .iter()
            .map(|o| o.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A plan file: the whole `delete --json` document, or the plan alone.
fn read_plan(text: &str) -> Result<DeletePlan, serde_json::Error> {
    match serde_json::from_str::<DeleteDoc>(text) {
        Ok(doc) => Ok(doc.plan),
        Err(_) => serde_json::from_str::<DeletePlan>(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_as_json_or_text_and_refuse_secrets() {
        let m = parse_settings(&[
            "shipping_profile_id=1234".into(),
            "sync_titles=true".into(),
            "label=shop a".into(),
        ])
        .unwrap();
        assert_eq!(m["shipping_profile_id"], Value::from(1234));
        assert_eq!(m["sync_titles"], Value::Bool(true));
        assert_eq!(m["label"], Value::String("shop a".into()));
        let e = parse_settings(&["token=abc".into()]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(!e.to_string().contains("abc"), "{e}");
        assert!(parse_settings(&["novalue".into()]).is_err());
    }

    #[test]
    fn a_callback_reads_an_address_or_a_user_id() {
        let c = callback_from("https://shop.example/back?userId=42&token=x").unwrap();
        assert_eq!(c.param("userId"), Some("42"));
        let c = callback_from("42").unwrap();
        assert_eq!(c.param("userId"), Some("42"));
        assert!(callback_from("").is_err());
    }
}
