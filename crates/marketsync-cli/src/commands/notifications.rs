//! `marketsync notifications list|read`: the in-app message list (every notification, rendered
//! for the seller, newest first) and marking messages read.
//!
//! The `--json` shapes are documented in the crate's README ("Operate").

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use marketsync::notify::{MarkRead, Message, MessageQuery, PageRequest, ReadFilter};
use serde::Serialize;

use crate::args::{NotificationsArgs, NotificationsCommand};
use crate::commands::mappings::Named;
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Runs `marketsync notifications`.
pub async fn run(ctx: &Context, args: NotificationsArgs, out: Output) -> Result<(), CliError> {
    match args.command {
        NotificationsCommand::List {
            integration,
            unread,
            limit,
        } => list(ctx, integration.as_deref(), unread, limit, out).await,
        NotificationsCommand::Read { ids, integration } => {
            read(ctx, ids, integration.as_deref(), out).await
        }
    }
}

/// One message as `notifications list` prints it: the rendered message's fields and when it
/// was marked read.
#[derive(Debug, Serialize)]
struct MessageView {
    #[serde(flatten)]
    message: Message,
    /// When it was marked read; `null` while unread.
    read_at: Option<DateTime<Utc>>,
}

/// `notifications list --json`.
#[derive(Debug, Serialize)]
struct ListDoc {
    messages: Vec<MessageView>,
    /// Whether more messages match than `--limit` allowed.
    more: bool,
}

async fn list(
    ctx: &Context,
    integration: Option<&str>,
    unread: bool,
    limit: usize,
    out: Output,
) -> Result<(), CliError> {
    let mut query = MessageQuery::all();
    if unread {
        query.read = ReadFilter::Unread;
    }
    if let Some(selector) = integration {
        query = query.of(ctx.integration(selector).await?.id);
    }
    let page = PageRequest::first(limit);
    let rendered = ctx.engine.messages(&query, &page).await?;
    // When each was marked read: the stored rows of the same page.
    let read_at: HashMap<String, Option<DateTime<Utc>>> = ctx
        .store
        .messages(&query, &page)
        .await?
        .items
        .into_iter()
        .map(|n| (n.id, n.read_at))
        .collect();
    let messages = rendered
        .items
        .into_iter()
        .map(|message| MessageView {
            read_at: read_at.get(&message.id).copied().flatten(),
            message,
        })
        .collect();
    let doc = ListDoc {
        messages,
        more: rendered.next.is_some(),
    };
    out.print(&doc, |d| {
        if d.messages.is_empty() {
            return format!("no {}messages\n", if unread { "unread " } else { "" });
        }
        let mut t = String::new();
        for v in &d.messages {
            let m = &v.message;
            let mark = if v.read_at.is_some() { " " } else { "*" };
            t.push_str(&format!(
                "{mark} {}  {}  {}\n",
                m.id,
                m.created_at.to_rfc3339(),
                m.subject
            ));
            // The body already ends with the repair steps, numbered.
            for line in m.body.lines().filter(|l| !l.trim().is_empty()) {
                t.push_str(&format!("    {line}\n"));
            }
        }
        if d.more {
            t.push_str("(more messages: raise --limit)\n");
        }
        if d.messages.iter().any(|v| v.read_at.is_none()) {
            t.push_str("* unread; mark read with `marketsync notifications read ID...`\n");
        }
        t
    })
}

/// `notifications read --json`.
#[derive(Debug, Serialize)]
struct ReadDoc {
    /// The ids given, or `null` with `--integration`.
    ids: Option<Vec<String>>,
    /// The integration whose messages were marked, with `--integration`.
    integration: Option<Named>,
    /// How many messages were newly marked read (already read ones are not counted).
    marked: usize,
}

async fn read(
    ctx: &Context,
    ids: Vec<String>,
    integration: Option<&str>,
    out: Output,
) -> Result<(), CliError> {
    let (mark, doc_ids, named) = match integration {
        Some(selector) => {
            let rec = ctx.integration(selector).await?;
            (MarkRead::Integration(rec.id), None, Some(Named::of(&rec)))
        }
        None => {
            if ids.is_empty() {
                return Err(CliError::Usage(
                    "give the messages' ids (as `marketsync notifications list` prints them) or --integration INTEGRATION".into(),
                ));
            }
            for id in &ids {
                if ctx.store.notification(id).await?.is_none() {
                    return Err(CliError::NotFound(format!(
                        "no message has the id {id:?}; list them with `marketsync notifications list`"
                    )));
                }
            }
            (MarkRead::Ids(ids.clone()), Some(ids), None)
        }
    };
    let marked = ctx.engine.mark_read(&mark).await?;
    let doc = ReadDoc {
        ids: doc_ids,
        integration: named,
        marked,
    };
    out.print(&doc, |d| match &d.integration {
        Some(n) => format!("marked {} message(s) of {} read\n", d.marked, n.name),
        None => format!("marked {} message(s) read\n", d.marked),
    })
}
