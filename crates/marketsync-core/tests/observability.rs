//! Every engine operation runs in a span carrying the integration, its channel kind and the
//! operation, and ends with one event saying the outcome.
//!
//! Alone in its test binary: tracing caches per call site whether anyone listens, and a test on
//! another thread without a subscriber could race with the one set here.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use marketsync_core::EngineError;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

// ----- a small capturing subscriber -----

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// One captured event: its own fields and those of its spans (innermost last), by span name.
#[derive(Clone, Debug)]
struct Captured {
    fields: BTreeMap<String, String>,
    spans: Vec<(String, BTreeMap<String, String>)>,
}

#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
}

struct SpanFields(BTreeMap<String, String>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(f.0));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        values.record(&mut f);
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            fields.0.extend(f.0);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|s| {
                        let fields = s
                            .extensions()
                            .get::<SpanFields>()
                            .map(|f| f.0.clone())
                            .unwrap_or_default();
                        (s.name().to_owned(), fields)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.events
            .lock()
            .unwrap()
            .push(Captured { fields: f.0, spans });
    }
}

impl Capture {
    /// The outcome events of `operation`, with the fields of their operation span.
    fn outcomes(
        &self,
        operation: &str,
    ) -> Vec<(BTreeMap<String, String>, BTreeMap<String, String>)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.fields.get("message").map(String::as_str) == Some("operation finished"))
            .filter_map(|e| {
                let (_, span) = e
                    .spans
                    .iter()
                    .rev()
                    .find(|(name, _)| name == "marketsync.operation")?;
                (span.get("operation").map(String::as_str) == Some(operation))
                    .then(|| (span.clone(), e.fields.clone()))
            })
            .collect()
    }

    fn all_text(&self) -> String {
        format!("{:?}", self.events.lock().unwrap())
    }
}

#[tokio::test]
async fn an_import_runs_in_a_span_with_its_integration_channel_and_operation_and_says_its_outcome()
{
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _default = tracing::subscriber::set_default(subscriber);

    let w = world().await;
    w.catalog.upsert(item("A", "10.00", 5, true));
    w.channel.add_order(order("O1", t0(), &["A"], "Std"));
    w.channel.add_order(order("O2", t0(), &["A"], "Std"));
    let mut without_sku = order("O3", t0(), &["A"], "Std");
    without_sku.lines[0].sku = None;
    w.channel.add_order(without_sku);
    let report = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(report.imported.len(), 2);
    assert_eq!(report.not_imported.len(), 1);

    let outcomes = capture.outcomes("import_orders");
    assert_eq!(outcomes.len(), 1, "one outcome event: {outcomes:?}");
    let (span, event) = &outcomes[0];
    assert_eq!(span["integration"], w.id.to_string());
    assert_eq!(span["channel"], "reverb");
    assert_eq!(event["outcome"], "ok");
    assert!(event["summary"].contains("imported=2"), "{event:?}");
    assert!(event["summary"].contains("held=1"), "{event:?}");
    assert!(event.contains_key("duration_ms"));

    // A failure says the error, in the same kind of span.
    w.engine
        .apply(w.id, seller(), marketsync_core::lifecycle::Event::Disable)
        .await
        .unwrap();
    let err = w.engine.import_orders(w.id).await.unwrap_err();
    assert!(matches!(err, EngineError::Blocked { .. }), "{err}");
    let outcomes = capture.outcomes("import_orders");
    assert_eq!(outcomes.len(), 2);
    let (span, event) = &outcomes[1];
    assert_eq!(span["integration"], w.id.to_string());
    assert_eq!(span["channel"], "reverb");
    assert_eq!(event["outcome"], "failed");
    assert_eq!(event["error"], err.to_string());

    // The other operations have their spans too; the credentials never appear.
    w.engine.verify(w.id, seller()).await.unwrap();
    let (span, event) = &capture.outcomes("verify")[0];
    assert_eq!(span["channel"], "reverb");
    assert_eq!(event["outcome"], "ok");
    let _ = w.engine.deliver_notifications().await;
    assert_eq!(capture.outcomes("deliver_notifications").len(), 1);
    assert!(!capture.all_text().contains("tok-secret"));
}
