//! Every text a person reads about a notification: the subject, the plain-text body and the
//! repair steps, by event, channel and kind of credentials. Kept together, apart from the
//! types, so the wording stays consistent and can be localised in one place later.

use crate::credentials::CredentialKind;
use crate::error::BrokenReason;
use crate::ids::ChannelKind;
use crate::lifecycle::Phase;
use crate::store::StoredNotification;

use super::{Message, MissingMapping, Notification};

/// Renders a stored notification for a person: who (the integration's name and channel), what
/// happened, the channel's own words, and the repair steps for that channel and kind of
/// credentials.
pub fn render(
    stored: &StoredNotification,
    integration_name: &str,
    channel: ChannelKind,
) -> Message {
    let kind = stored
        .credential_kind
        .unwrap_or_else(|| usual_credentials(channel));
    let name = integration_name;
    let (subject, mut body, repair) = match &stored.notification {
        Notification::ConnectionBroken {
            reason,
            channel_message,
            ..
        } => {
            let mut body = format!(
                "The connection of {name} to {channel} stopped working. Until it is repaired, no orders are imported and no listings or stock levels are updated; nothing is lost, the next run after the repair catches up.\n\n"
            );
            match channel_message {
                Some(said) => body.push_str(&format!(
                    "{channel} said: \"{said}\"\nThe connection is broken because {channel} said so; {channel} alone knows the exact cause. {}\n",
                    diagnosis(*reason)
                )),
                None => body.push_str(&format!("{}\n", diagnosis(*reason))),
            }
            (
                format!("{name} ({channel}): the connection is broken"),
                body,
                broken_steps(*reason, kind, channel),
            )
        }
        Notification::ConnectionRestored { .. } => (
            format!("{name} ({channel}): the connection works again"),
            format!(
                "The connection of {name} to {channel} works again. Orders, listings and stock levels are exchanged as before, and the first runs catch up on what waited.\n"
            ),
            Vec::new(),
        ),
        Notification::CredentialsExpiring { expires_at, .. } => (
            format!(
                "{name} ({channel}): the connection must be renewed by {}",
                expires_at.format("%Y-%m-%d")
            ),
            format!(
                "The access {channel} gave {name} expires at {} (UTC). After that the connection stops working until it is renewed.\n",
                expires_at.format("%Y-%m-%d %H:%M")
            ),
            renew_steps(kind, channel),
        ),
        Notification::PhaseChanged { from, to, .. } => (
            format!("{name} ({channel}) is now {}", phase_name(*to)),
            match to {
                Phase::Live => format!(
                    "The testing period of {name} has ended: it is Live. From now on, turning a feature off, turning listings or orders on, or changing the label needs support.\n"
                ),
                _ => format!(
                    "{name} moved from {} to {}.\n",
                    phase_name(*from),
                    phase_name(*to)
                ),
            },
            Vec::new(),
        ),
        Notification::OrdersHeld {
            missing, orders, ..
        } => held_text(name, channel, missing, *orders),
    };
    if !repair.is_empty() {
        body.push_str("\nWhat to do:\n");
        for (i, step) in repair.iter().enumerate() {
            body.push_str(&format!("{}. {step}\n", i + 1));
        }
    }
    Message {
        id: stored.id.clone(),
        created_at: stored.created_at,
        integration: stored.integration,
        integration_name: integration_name.to_owned(),
        channel,
        subject,
        body,
        repair,
        notification: stored.notification.clone(),
    }
}

/// The kind of credentials a channel's integrations usually have, when the stored notification
/// does not say: a login (Allegro, Tradera), an OAuth refresh token entered by hand
/// (ChannelAdvisor and OfferUp through it), an API token (Reverb).
pub fn usual_credentials(channel: ChannelKind) -> CredentialKind {
    match channel {
        ChannelKind::Allegro | ChannelKind::Tradera => CredentialKind::LoginSession,
        ChannelKind::ChannelAdvisor | ChannelKind::OfferUp => CredentialKind::OAuth,
        ChannelKind::Reverb => CredentialKind::ApiToken,
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Setup => "in setup",
        Phase::Testing => "in testing",
        Phase::Live => "Live",
    }
}

/// What the diagnosis means, in one sentence.
fn diagnosis(reason: BrokenReason) -> &'static str {
    match reason {
        BrokenReason::CredentialsRejected => {
            "The credentials were refused: they are wrong, or were revoked or changed at the channel."
        }
        BrokenReason::LoginRequired => "The login (or token) could not be renewed, or has expired.",
        BrokenReason::PermissionDenied => {
            "The credentials work but lack a permission an operation needs."
        }
        BrokenReason::AccountNotUsable => {
            "The account cannot be used through the channel's API as it is (for example not activated, or the wrong type of account)."
        }
    }
}

/// Whether the credentials are a login the seller renews by logging in again.
fn is_login(kind: CredentialKind) -> bool {
    kind == CredentialKind::LoginSession
}

fn login_steps(channel: ChannelKind) -> Vec<String> {
    vec![
        "Open the integration's settings and deactivate it.".to_owned(),
        format!("Activate it again: you are taken to {channel}'s login page."),
        format!(
            "Log in to {channel} with the seller account and allow the access; the connection works again once you have."
        ),
    ]
}

fn new_token_steps(channel: ChannelKind) -> Vec<String> {
    vec![
        format!(
            "At {channel}, create a new refresh token for the application (the old one was revoked or has expired)."
        ),
        "Enter the new token in the integration's credentials.".to_owned(),
        "Verify the connection.".to_owned(),
    ]
}

fn manual_steps(channel: ChannelKind) -> Vec<String> {
    vec![
        format!(
            "Check that the credentials entered (user name, password, API token, merchant or account id) are exactly the ones {channel} gives you, and enter them again if not."
        ),
        format!(
            "Check at {channel} that the account is activated: incorrect credentials are not always the cause."
        ),
        format!(
            "Check that the account is of a type {channel} allows to be used through its API (some channels need a business or API-enabled account)."
        ),
        "Verify the connection.".to_owned(),
    ]
}

fn broken_steps(reason: BrokenReason, kind: CredentialKind, channel: ChannelKind) -> Vec<String> {
    match reason {
        BrokenReason::PermissionDenied => vec![
            format!("At {channel}, grant the application the permission it lacks."),
            "Verify the connection.".to_owned(),
        ],
        BrokenReason::AccountNotUsable => vec![
            format!("Check at {channel} that the account is activated."),
            format!(
                "Check that the account is of a type {channel} allows to be used through its API."
            ),
            "Verify the connection.".to_owned(),
        ],
        _ if is_login(kind) => login_steps(channel),
        _ if kind == CredentialKind::OAuth => new_token_steps(channel),
        _ => manual_steps(channel),
    }
}

fn renew_steps(kind: CredentialKind, channel: ChannelKind) -> Vec<String> {
    if is_login(kind) {
        let mut steps = login_steps(channel);
        steps.push("Do it before the date above to avoid a break.".to_owned());
        steps
    } else if kind == CredentialKind::OAuth {
        new_token_steps(channel)
    } else {
        vec![
            format!("At {channel}, create new credentials for the application."),
            "Enter them in the integration's credentials and verify the connection.".to_owned(),
        ]
    }
}

fn held_text(
    name: &str,
    channel: ChannelKind,
    missing: &MissingMapping,
    orders: usize,
) -> (String, String, Vec<String>) {
    let waiting = if orders == 1 {
        "1 order waits".to_owned()
    } else {
        format!("{orders} orders wait")
    };
    match missing {
        MissingMapping::Shipping(text) => (
            format!("{name} ({channel}): orders wait for a shipping mapping for \"{text}\""),
            format!(
                "{waiting} to be imported from {channel}: their shipping method \"{text}\" (exactly as {channel} sends it) has no shipping mapping, and {channel} requires one.\n"
            ),
            vec![
                format!(
                    "Add a shipping mapping for exactly the text \"{text}\" in the integration's mappings."
                ),
                "The waiting orders import on the next run; nothing else is needed.".to_owned(),
            ],
        ),
        MissingMapping::Sku(sku) => (
            format!(
                "{name} ({channel}): orders wait for a SKU mapping for \"{}\"",
                sku.as_str()
            ),
            format!(
                "{waiting} to be imported from {channel}: the channel SKU \"{}\" is neither mapped nor in the catalogue.\n",
                sku.as_str()
            ),
            vec![
                format!(
                    "Add a SKU mapping for \"{}\" (or add the item to the catalogue).",
                    sku.as_str()
                ),
                "The waiting orders import on the next run; nothing else is needed.".to_owned(),
            ],
        ),
    }
}
