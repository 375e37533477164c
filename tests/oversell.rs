//! Issue 21, the oversell guard end to end: a sale on one channel lowers the quantity on every
//! other channel, through the real adapters against the four marketplace sandboxes
//! (ChannelAdvisor, Reverb, Allegro, Tradera) on one SQLite file, as a host program runs it:
//! import, then [`Engine::propagate_stock_now`].
//!
//! What each channel was sent is read from its sandbox: ChannelAdvisor's request counters (one
//! `$batch`, its `UpdateQuantity` parts) and distribution-centre quantities, Reverb's listing
//! writes, Allegro's change commands, Tradera's quantity and price updates.
//!
//! Prices: an update carries the catalogue item's price with its quantity, and the marketplaces
//! do not share a currency (Reverb takes only the shop's currency, from a list without SEK;
//! Tradera only whole SEK). So the host keeps one stock and a price list per currency, and runs
//! one engine per marketplace over the one store, each reading the stock through its price list
//! ([`PriceList`]) — as a host with one worker per marketplace would. Whichever engine
//! propagates first hands the orders to the stock; each engine sends to its own integration.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use marketsync::engine::StockPropagation;
use marketsync::lifecycle::Event;
use marketsync::mapping::{ShippingMapping, ShippingService};
use marketsync::store::StockEvent;
use marketsync::{
    Actor, Catalog, CatalogError, CatalogPage, ChannelListingId, Clock, CredentialKey, Currency,
    Engine, Feature, IntegrationId, IntegrationSettings, InventoryItem, Label, ManualClock,
    MemoryCatalog, MemoryNotifier, Money, OrderState, Sku, SqliteStore, Store,
};
use marketsync_sandbox::channeladvisor::harness::HARNESS_DISTRIBUTION_CENTER;
use marketsync_sandbox::{AllegroHarness, ChannelAdvisorHarness, ReverbHarness, TraderaHarness};
use marketsync_testkit::channel::{ChannelHarness, OrderSpec, SHIPPING_TEXT};

/// SKUs every integration lists.
const SKUS: usize = 50;
/// Units of each SKU in the catalogue at the start.
const START: u32 = 5;

/// The price of every item in a currency (whole units: every marketplace takes them).
fn price(currency: Currency) -> Money {
    let amount = match currency {
        Currency::SEK => "199",
        Currency::PLN => "79",
        _ => "19",
    };
    Money::parse(amount, currency.code()).unwrap()
}

type BoxFuture<'f, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'f>>;

/// The host's catalogue as one marketplace's engine sees it: the one stock, priced in that
/// marketplace's currency. Orders imported go to the stock.
#[derive(Debug)]
struct PriceList {
    stock: Arc<MemoryCatalog>,
    currency: Currency,
}

impl PriceList {
    fn priced(&self, mut items: Vec<InventoryItem>) -> Vec<InventoryItem> {
        for i in &mut items {
            i.price = price(self.currency);
        }
        items
    }
}

// The trait is declared with `async_trait`; its methods written out, so the test needs no macro
// crate of its own.
impl Catalog for PriceList {
    fn items_with_label<'a, 'b, 'c, 'f>(
        &'a self,
        label: &'b Label,
        page: Option<&'c str>,
        page_size: usize,
    ) -> BoxFuture<'f, Result<CatalogPage, CatalogError>>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let page = self.stock.items_with_label(label, page, page_size).await?;
            Ok(CatalogPage {
                items: self.priced(page.items),
                next: page.next,
            })
        })
    }

    fn items_by_sku<'a, 'b, 'f>(
        &'a self,
        skus: &'b [Sku],
    ) -> BoxFuture<'f, Result<Vec<InventoryItem>, CatalogError>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move { Ok(self.priced(self.stock.items_by_sku(skus).await?)) })
    }

    fn orders_imported<'a, 'b, 'f>(
        &'a self,
        events: &'b [StockEvent],
    ) -> BoxFuture<'f, Result<(), CatalogError>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        self.stock.orders_imported(events)
    }
}

fn seller() -> Actor {
    Actor::User("ana".into())
}

fn label() -> Label {
    Label::new("oversell").unwrap()
}

fn sku(i: usize) -> Sku {
    Sku::new(format!("OS-{i:03}")).unwrap()
}

/// Which of the four integrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ch {
    ChannelAdvisor,
    Reverb,
    Allegro,
    Tradera,
}

const ALL: [Ch; 4] = [Ch::ChannelAdvisor, Ch::Reverb, Ch::Allegro, Ch::Tradera];

/// The four sandboxes with their adapters.
struct Sandboxes {
    ca: ChannelAdvisorHarness,
    reverb: ReverbHarness,
    allegro: AllegroHarness,
    tradera: TraderaHarness,
}

impl Sandboxes {
    async fn start() -> Self {
        Self {
            ca: ChannelAdvisorHarness::start().await.unwrap(),
            reverb: ReverbHarness::start().await.unwrap(),
            allegro: AllegroHarness::start().await.unwrap(),
            tradera: TraderaHarness::start().await.unwrap(),
        }
    }

    fn harness(&self, ch: Ch) -> &dyn ChannelHarness {
        match ch {
            Ch::ChannelAdvisor => &self.ca,
            Ch::Reverb => &self.reverb,
            Ch::Allegro => &self.allegro,
            Ch::Tradera => &self.tradera,
        }
    }

    fn reset_counters(&self) {
        self.ca.sandbox().reset_counters();
        self.reverb.sandbox().reset_counters();
        self.allegro.sandbox().reset_counters();
        self.tradera.sandbox().reset_counters();
    }
}

/// How many of each sandbox's write records existed at a point, to read only what came after.
#[derive(Clone, Copy, Debug)]
struct Marks {
    reverb_writes: usize,
    allegro_commands: usize,
    tradera_quantities: usize,
    tradera_prices: usize,
}

impl Marks {
    fn now(s: &Sandboxes) -> Self {
        Self {
            reverb_writes: s.reverb.sandbox().listing_writes().len(),
            allegro_commands: s.allegro.sandbox().commands().len(),
            tradera_quantities: s.tradera.sandbox().quantity_updates().len(),
            tradera_prices: s.tradera.sandbox().price_updates().len(),
        }
    }
}

/// A temporary directory, removed at the end.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The host: its catalogue (its own database: it outlives an engine), the SQLite file, the
/// four integrations and where each SKU is listed at each channel.
struct World {
    s: Sandboxes,
    catalog: Arc<MemoryCatalog>,
    clock: Arc<ManualClock>,
    db: PathBuf,
    ids: BTreeMap<Ch, IntegrationId>,
    listings: BTreeMap<(Ch, Sku), ChannelListingId>,
    _dir: TempDir,
}

impl World {
    fn id(&self, ch: Ch) -> IntegrationId {
        self.ids[&ch]
    }

    fn ch_of(&self, id: IntegrationId) -> Ch {
        *self.ids.iter().find(|(_, v)| **v == id).unwrap().0
    }

    fn listing(&self, ch: Ch, i: usize) -> &ChannelListingId {
        &self.listings[&(ch, sku(i))]
    }

    /// The host's engines on the SQLite file (a fresh process, as after a restart): one per
    /// marketplace, each with the price list of its currency, over one store.
    async fn host(&self) -> Host {
        let store = Arc::new(SqliteStore::open(&self.db).await.unwrap());
        let engines = ALL
            .into_iter()
            .map(|ch| {
                let catalog = PriceList {
                    stock: self.catalog.clone(),
                    currency: self.s.harness(ch).currency(),
                };
                let engine = Engine::new(
                    store.clone(),
                    Arc::new(catalog),
                    Arc::new(MemoryNotifier::new()),
                    self.clock.clone(),
                )
                .with_credential_key(CredentialKey::new("oversell", [21; 32]));
                (ch, engine)
            })
            .collect();
        Host { engines, store }
    }

    /// The host after a restart: each adapter attached again with its stored credentials.
    async fn restarted_host(&self) -> Host {
        let host = self.host().await;
        for ch in ALL {
            host.engines[&ch]
                .attach_channel(self.id(ch), self.s.harness(ch).channel())
                .await
                .unwrap();
        }
        host
    }

    /// An order for one unit of SKU `i` at `ch`.
    async fn sell(&self, ch: Ch, name: &str, i: usize) {
        let h = self.s.harness(ch);
        h.add_order(&OrderSpec {
            name: name.into(),
            created_at: self.clock.now() - TimeDelta::hours(1),
            state: OrderState::AwaitingShipment,
            skus: vec![sku(i)],
            shipping: SHIPPING_TEXT.into(),
            unit_price: price(h.currency()),
        })
        .await;
    }

    fn quantity(&self, i: usize) -> u32 {
        self.catalog.item(&sku(i)).unwrap().quantity
    }
}

/// The host's engines, one per marketplace, over one store.
struct Host {
    engines: BTreeMap<Ch, Engine>,
    store: Arc<SqliteStore>,
}

impl Host {
    async fn import(&self, w: &World, ch: Ch) -> usize {
        let report = self.engines[&ch].import_orders(w.id(ch)).await.unwrap();
        assert!(report.not_imported.is_empty(), "{ch:?}: {report:?}");
        report.imported.len()
    }

    /// The propagation step: each engine hands over what is pending (the first one finds it)
    /// and sends to its own integration. The reports, merged.
    async fn propagate(&self) -> StockPropagation {
        let mut all = StockPropagation::default();
        for engine in self.engines.values() {
            let p = engine.propagate_stock_now().await.unwrap();
            all.hand_over.events.extend(p.hand_over.events);
            all.hand_over.marked.extend(p.hand_over.marked);
            all.syncs.extend(p.syncs);
        }
        all
    }
}

async fn event(engine: &Engine, id: IntegrationId, e: Event) {
    engine
        .apply(id, seller(), e.clone())
        .await
        .unwrap_or_else(|err| panic!("{e:?} refused: {err}"));
}

/// Four integrations (one per sandbox) on one SQLite file, each listing the same 50 SKUs at its
/// channel (quantity 5, at its price), linked, and synced once so the stored fingerprints match
/// what each channel holds. Orders are on for `order_channels`.
async fn world(order_channels: &[Ch]) -> (World, Host) {
    let dir = std::env::temp_dir().join(format!("marketsync-oversell-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let catalog = Arc::new(MemoryCatalog::new());
    for i in 0..SKUS {
        catalog.upsert(InventoryItem {
            stock_version: None,
            sku: sku(i),
            title: format!("Item {}", sku(i)),
            price: price(Currency::USD),
            quantity: START,
            labels: [label()].into_iter().collect(),
        });
    }
    let mut w = World {
        s: Sandboxes::start().await,
        catalog,
        clock: Arc::new(ManualClock::new(Utc::now())),
        db: dir.join("store.db"),
        ids: BTreeMap::new(),
        listings: BTreeMap::new(),
        _dir: TempDir(dir),
    };
    let host = w.host().await;
    for ch in ALL {
        let engine = &host.engines[&ch];
        let h = w.s.harness(ch);
        let channel = h.channel();
        let caps = channel.capabilities();
        let kind = channel.kind();
        let id = engine
            .create_integration(
                &format!("{ch:?}"),
                channel,
                IntegrationSettings::new(kind, h.currency()),
                seller(),
            )
            .await
            .unwrap();
        engine
            .enter_credentials(id, &h.credentials(), seller())
            .await
            .unwrap();
        engine.verify(id, seller()).await.unwrap();
        event(
            engine,
            id,
            Event::SetLabel {
                label: Some(label()),
                support_override: None,
            },
        )
        .await;
        event(engine, id, Event::Activate).await;
        let mut features = vec![Feature::Listings];
        if order_channels.contains(&ch) {
            features.push(Feature::Orders);
        }
        for feature in features {
            event(
                engine,
                id,
                Event::SetFeature {
                    feature,
                    on: true,
                    support_override: None,
                },
            )
            .await;
        }
        if caps.shipping_mappings_required {
            let m = ShippingMapping::new(
                SHIPPING_TEXT,
                ShippingService {
                    name: "Standard".into(),
                    carrier: None,
                    class: None,
                },
                w.clock.now(),
            )
            .unwrap();
            engine
                .edit_mappings(id, seller(), |set| {
                    set.insert_shipping(m.clone());
                })
                .await
                .unwrap();
        }
        for i in 0..SKUS {
            let listing = h.add_listing(&sku(i), price(h.currency()), START).await;
            w.listings.insert((ch, sku(i)), listing);
        }
        let linked = engine.link_listings(id).await.unwrap();
        assert_eq!(linked.linked.len(), SKUS, "{ch:?}: {linked:?}");
        let synced = engine.sync_listings(id).await.unwrap();
        assert!(synced.failed.is_empty(), "{ch:?}: {synced:?}");
        w.ids.insert(ch, id);
    }
    // The sales come after the setup's sync (an order is placed an hour before it is
    // imported, `sell`): a listing written after its own channel's sale is sent again.
    w.clock.advance(TimeDelta::hours(2));
    (w, host)
}

/// The SKUs each integration was sent by a propagation, with nothing failed or left waiting.
fn sent_by_channel(w: &World, p: &StockPropagation) -> BTreeMap<Ch, BTreeSet<Sku>> {
    let mut out = BTreeMap::new();
    for (id, r) in &p.syncs {
        let r = r.as_ref().unwrap_or_else(|e| panic!("{id}: {e}"));
        let ch = w.ch_of(*id);
        assert!(r.failed.is_empty(), "{ch:?}: {r:?}");
        assert!(r.waiting.is_empty() && r.stopped.is_none(), "{ch:?}: {r:?}");
        out.insert(ch, r.sent.iter().cloned().collect());
    }
    out
}

/// Allegro's change commands after `mark`, by kind.
fn allegro_commands(w: &World, mark: Marks) -> BTreeMap<String, Vec<(BTreeSet<String>, String)>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for c in &w.s.allegro.sandbox().commands()[mark.allegro_commands..] {
        out.entry(c.kind.clone()).or_default().push((
            c.offer_ids.iter().cloned().collect(),
            c.body["modification"].to_string(),
        ));
    }
    out
}

fn tradera_item(w: &World, i: usize) -> i64 {
    w.listing(Ch::Tradera, i).as_str().parse().unwrap()
}

fn ca_product(w: &World, i: usize) -> i64 {
    w.listing(Ch::ChannelAdvisor, i).as_str().parse().unwrap()
}

fn reverb_listing(w: &World, i: usize) -> u64 {
    w.listing(Ch::Reverb, i).as_str().parse().unwrap()
}

/// Checks that each channel other than `source` was sent exactly `sold` (at quantity
/// `expected`), in one batch per modification where the channel batches, and nothing else;
/// and that `source` was sent nothing.
fn assert_sent_exactly(w: &World, mark: Marks, sold: &BTreeSet<usize>, expected: u32) {
    let n = sold.len() as u64;
    // Reverb, the source: nothing written.
    let rv = w.s.reverb.sandbox();
    assert_eq!(
        rv.listing_writes().len(),
        mark.reverb_writes,
        "nothing is sent to the channel the orders came from"
    );
    assert_eq!(rv.counters().get("listings.update"), 0);

    // ChannelAdvisor: one `$batch` with one `UpdateQuantity` part per sold SKU (and the price
    // parts), no other write; the sold products now show the new quantity, the others not.
    let ca = w.s.ca.sandbox().counters();
    let batches: u64 = ca
        .requests
        .iter()
        .filter(|(op, _)| op.contains("batch"))
        .map(|(_, k)| k)
        .sum();
    assert_eq!(batches, 1, "one $batch for all ten: {ca:?}");
    assert_eq!(ca.part("products.update_quantity"), n, "{ca:?}");
    for (op, k) in &ca.batch_parts {
        assert!(
            op == "products.update_quantity" || op == "products.update",
            "unexpected part {op}: {ca:?}"
        );
        assert!(*k <= n, "{op} × {k} for {n} SKUs: {ca:?}");
    }
    for i in 0..SKUS {
        let q =
            w.s.ca
                .sandbox()
                .dc_quantity(ca_product(w, i), HARNESS_DISTRIBUTION_CENTER as i64)
                .unwrap();
        let want = if sold.contains(&i) { expected } else { START };
        assert_eq!(q, i64::from(want), "ChannelAdvisor {}", sku(i));
    }

    // Allegro: one quantity command naming exactly the sold offers, at most one price command
    // for them, nothing else (no publication change).
    let sold_offers: BTreeSet<String> = sold
        .iter()
        .map(|i| w.listing(Ch::Allegro, *i).to_string())
        .collect();
    let commands = allegro_commands(w, mark);
    let quantity = commands.get("quantity").cloned().unwrap_or_default();
    assert_eq!(quantity.len(), 1, "one quantity command: {commands:?}");
    assert_eq!(quantity[0].0, sold_offers, "{commands:?}");
    assert!(
        quantity[0].1.contains(&format!("\"value\":{expected}")),
        "{commands:?}"
    );
    for (kind, list) in &commands {
        assert!(kind == "quantity" || kind == "price", "{commands:?}");
        assert_eq!(list.len(), 1, "one {kind} command: {commands:?}");
        assert_eq!(list[0].0, sold_offers, "{commands:?}");
    }

    // Tradera: one quantity update with exactly the sold items at the new quantity, at most one
    // price update for them.
    let td = w.s.tradera.sandbox();
    let quantities = &td.quantity_updates()[mark.tradera_quantities..];
    assert_eq!(
        quantities.len(),
        1,
        "one batched quantity update: {quantities:?}"
    );
    let items: BTreeSet<(i64, i64)> = quantities[0].items.iter().copied().collect();
    let want: BTreeSet<(i64, i64)> = sold
        .iter()
        .map(|i| (tradera_item(w, *i), i64::from(expected)))
        .collect();
    assert_eq!(items, want);
    let prices = &td.price_updates()[mark.tradera_prices..];
    assert!(prices.len() <= 1, "{prices:?}");
    for p in prices {
        let ids: BTreeSet<i64> = p.items.iter().map(|(id, _)| *id).collect();
        let sold_ids: BTreeSet<i64> = sold.iter().map(|i| tradera_item(w, *i)).collect();
        assert_eq!(ids, sold_ids, "{prices:?}");
    }
    for i in 0..SKUS {
        let want = if sold.contains(&i) { expected } else { START };
        assert_eq!(
            td.quantity(tradera_item(w, i)),
            Some(i64::from(want)),
            "Tradera {}",
            sku(i)
        );
    }
}

/// Ten of the 50 SKUs sell on Reverb: one import run and one propagation send exactly those ten
/// to ChannelAdvisor, Allegro and Tradera, each in one batch, and nothing else anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_updates_exactly_the_sold_skus_on_every_other_channel() {
    let (w, host) = world(&[Ch::Reverb]).await;
    let sold: BTreeSet<usize> = (0..SKUS).step_by(5).collect();
    assert_eq!(sold.len(), 10);
    for i in &sold {
        w.sell(Ch::Reverb, &format!("sale-{i}"), *i).await;
    }
    let mark = Marks::now(&w.s);
    w.s.reset_counters();

    assert_eq!(host.import(&w, Ch::Reverb).await, 10);
    let p = host.propagate().await;

    assert_eq!(p.hand_over.events.len(), 10, "{:?}", p.hand_over);
    let sold_skus: BTreeSet<Sku> = sold.iter().map(|i| sku(*i)).collect();
    let marked: BTreeSet<(IntegrationId, Sku)> = p.hand_over.marked.iter().cloned().collect();
    let want: BTreeSet<(IntegrationId, Sku)> = [Ch::ChannelAdvisor, Ch::Allegro, Ch::Tradera]
        .into_iter()
        .flat_map(|ch| {
            let id = w.id(ch);
            sold_skus.iter().map(move |s| (id, s.clone()))
        })
        .collect();
    assert_eq!(marked, want, "the three other integrations, the ten SKUs");
    let sent = sent_by_channel(&w, &p);
    assert_eq!(
        sent.keys().copied().collect::<Vec<_>>(),
        [Ch::ChannelAdvisor, Ch::Allegro, Ch::Tradera]
    );
    for (ch, skus) in &sent {
        assert_eq!(skus, &sold_skus, "{ch:?}");
    }
    for i in 0..SKUS {
        let want = if sold.contains(&i) { START - 1 } else { START };
        assert_eq!(w.quantity(i), want, "catalogue {}", sku(i));
    }
    assert_sent_exactly(&w, mark, &sold, START - 1);

    // Nothing is left: another propagation sends nothing.
    let again = host.propagate().await;
    assert!(again.hand_over.events.is_empty(), "{:?}", again.hand_over);
    assert!(again.syncs.is_empty(), "{:?}", again.syncs);
    assert_sent_exactly(&w, mark, &sold, START - 1);
}

/// The process dies after the import committed and before any propagation: a new engine on the
/// same SQLite file hands each order to the host once and sends each SKU once per channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_import_and_propagation_propagates_once_after_restart() {
    let (w, host) = world(&[Ch::Reverb]).await;
    let sold: BTreeSet<usize> = (0..SKUS).step_by(5).collect();
    for i in &sold {
        w.sell(Ch::Reverb, &format!("sale-{i}"), *i).await;
    }
    let mark = Marks::now(&w.s);
    w.s.reset_counters();
    assert_eq!(host.import(&w, Ch::Reverb).await, 10);
    // The crash: the engines and their store connections are gone; the orders are committed.
    drop(host);
    assert!(
        w.catalog.stock_events_seen().is_empty(),
        "the host has not heard of the orders yet"
    );
    assert_eq!(w.quantity(0), START);

    let host = w.restarted_host().await;
    let first = host.propagate().await;
    assert_eq!(first.hand_over.events.len(), 10, "{:?}", first.hand_over);
    let sent = sent_by_channel(&w, &first);
    assert_eq!(sent.len(), 3, "{sent:?}");
    // Once more, and once more after another restart: nothing new.
    let second = host.propagate().await;
    assert!(second.hand_over.events.is_empty() && second.syncs.is_empty());
    drop(host);
    let host = w.restarted_host().await;
    let third = host.propagate().await;
    assert!(third.hand_over.events.is_empty() && third.syncs.is_empty());
    // The import again finds them all imported: nothing journalled twice.
    assert_eq!(host.import(&w, Ch::Reverb).await, 0);
    assert!(host.propagate().await.syncs.is_empty());

    // The hook saw each order once.
    let seen = w.catalog.stock_events_seen();
    assert_eq!(seen.len(), 10, "{seen:?}");
    let orders: BTreeSet<_> = seen.iter().map(|e| e.channel_order_id.clone()).collect();
    assert_eq!(orders.len(), 10);
    let seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|p| p[0] < p[1]),
        "journal order: {seqs:?}"
    );
    for i in 0..SKUS {
        let want = if sold.contains(&i) { START - 1 } else { START };
        assert_eq!(w.quantity(i), want, "catalogue {}", sku(i));
    }
    // Each SKU was sent once per channel.
    assert_sent_exactly(&w, mark, &sold, START - 1);
}

/// The quantities of SKU `i` each channel was sent, in the order received (ChannelAdvisor
/// keeps no record of values: not included).
fn received_quantities(w: &World, mark: Marks, i: usize) -> BTreeMap<Ch, Vec<i64>> {
    let mut out = BTreeMap::new();
    let rv = reverb_listing(w, i);
    out.insert(
        Ch::Reverb,
        w.s.reverb.sandbox().listing_writes()[mark.reverb_writes..]
            .iter()
            .filter(|l| l.listing_id == rv && l.operation == "update")
            .filter_map(|l| l.body["inventory"].as_i64())
            .collect(),
    );
    let offer = w.listing(Ch::Allegro, i).to_string();
    out.insert(
        Ch::Allegro,
        w.s.allegro.sandbox().commands()[mark.allegro_commands..]
            .iter()
            .filter(|c| c.kind == "quantity" && c.offer_ids.contains(&offer))
            .filter_map(|c| c.body["modification"]["value"].as_i64())
            .collect(),
    );
    let item = tradera_item(w, i);
    out.insert(
        Ch::Tradera,
        w.s.tradera.sandbox().quantity_updates()[mark.tradera_quantities..]
            .iter()
            .flat_map(|u| u.items.iter())
            .filter(|(id, _)| *id == item)
            .map(|(_, q)| *q)
            .collect(),
    );
    out
}

/// The same SKU sells on ChannelAdvisor and on Reverb at the same moment; the two imports and
/// their propagations run concurrently. Every channel ends at the catalogue's quantity, and no
/// channel is ever sent a quantity above one it was sent before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sku_sold_on_two_channels_at_once_ends_right_everywhere_never_backwards() {
    let (w, host) = world(&[Ch::ChannelAdvisor, Ch::Reverb]).await;
    let i = 7;
    w.sell(Ch::ChannelAdvisor, "ca-sale", i).await;
    w.sell(Ch::Reverb, "reverb-sale", i).await;
    let mark = Marks::now(&w.s);
    w.s.reset_counters();

    let run = |ch: Ch| {
        let (host, w) = (&host, &w);
        async move {
            assert_eq!(host.import(w, ch).await, 1, "{ch:?}");
            host.propagate().await
        }
    };
    let (a, b) = tokio::join!(run(Ch::ChannelAdvisor), run(Ch::Reverb));
    for p in [&a, &b] {
        for (id, r) in &p.syncs {
            let r = r.as_ref().unwrap();
            assert!(r.failed.is_empty(), "{:?}: {r:?}", w.ch_of(*id));
        }
    }
    // Whatever either run left pending is sent now.
    let settle = host.propagate().await;
    sent_by_channel(&w, &settle);
    assert!(host.propagate().await.syncs.is_empty());

    let end = START - 2;
    assert_eq!(w.quantity(i), end, "the host counted both sales");
    let item = w.catalog.item(&sku(i)).unwrap();
    assert_eq!(item.stock_version, Some(2), "{item:?}");
    assert_eq!(w.catalog.stock_events_seen().len(), 2);

    // Every channel shows the catalogue's quantity: each source got the other's sale.
    assert_eq!(
        w.s.ca
            .sandbox()
            .dc_quantity(ca_product(&w, i), HARNESS_DISTRIBUTION_CENTER as i64),
        Some(i64::from(end))
    );
    for ch in ALL {
        let l =
            w.s.harness(ch)
                .listing(w.listing(ch, i))
                .await
                .unwrap_or_else(|| panic!("{ch:?} still lists it"));
        assert_eq!(l.quantity, Some(end), "{ch:?}: {l:?}");
    }
    // The store's stock versions reached the catalogue's on every integration.
    let listings = host.store.listings_for_skus(&[sku(i)]).await.unwrap();
    assert_eq!(listings.len(), 4, "{listings:?}");
    for l in &listings {
        assert_eq!(l.last_stock_version, Some(2), "{l:?}");
    }

    // No update went backwards: what each channel received is non-increasing and ends at
    // the catalogue's quantity.
    for (ch, qs) in received_quantities(&w, mark, i) {
        assert!(!qs.is_empty(), "{ch:?} received the new quantity");
        assert!(
            qs.windows(2).all(|p| p[0] >= p[1]),
            "{ch:?} went backwards: {qs:?}"
        );
        assert_eq!(*qs.last().unwrap(), i64::from(end), "{ch:?}: {qs:?}");
        assert!(qs.iter().all(|q| *q < i64::from(START)), "{ch:?}: {qs:?}");
    }
    // No other SKU was sent anywhere.
    for j in (0..SKUS).filter(|j| *j != i) {
        for (ch, qs) in received_quantities(&w, mark, j) {
            assert!(qs.is_empty(), "{ch:?} {}: {qs:?}", sku(j));
        }
    }
}

/// The same SKU sells on ChannelAdvisor and on Reverb (Reverb lowers its own listing on a sale);
/// the ChannelAdvisor order is imported and propagated first, the Reverb order after. Reverb,
/// sent the quantity after the first sale only, must still end at the catalogue's quantity
/// after both: the propagation of its own sale must not leave it at the older one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_sent_an_older_quantity_before_its_own_sale_was_imported_ends_right() {
    let (w, host) = world(&[Ch::ChannelAdvisor, Ch::Reverb]).await;
    let i = 11;
    w.sell(Ch::ChannelAdvisor, "ca-sale", i).await;
    w.sell(Ch::Reverb, "reverb-sale", i).await;
    let mark = Marks::now(&w.s);

    assert_eq!(host.import(&w, Ch::ChannelAdvisor).await, 1);
    host.propagate().await;
    assert_eq!(host.import(&w, Ch::Reverb).await, 1);
    host.propagate().await;
    host.propagate().await;

    let end = START - 2;
    assert_eq!(w.quantity(i), end, "the host counted both sales");
    for ch in ALL {
        let l =
            w.s.harness(ch)
                .listing(w.listing(ch, i))
                .await
                .unwrap_or_else(|| panic!("{ch:?} still lists it"));
        assert_eq!(l.quantity, Some(end), "{ch:?}: {l:?}");
    }
    for (ch, qs) in received_quantities(&w, mark, i) {
        assert!(
            qs.windows(2).all(|p| p[0] >= p[1]),
            "{ch:?} went backwards: {qs:?}"
        );
    }
}
