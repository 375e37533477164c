use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::TimeDelta;
use secrecy::SecretString;
use url::Url;

use crate::capability::{Capabilities, Operation};
use crate::channel::{
    AccountInfo, Channel, CredentialSink, Cursor, ListingPage, ListingQuery, OrderPage, OrderQuery,
    PageToken, RejectedOrder,
};
use crate::clock::{Clock, SystemClock};
use crate::credentials::{
    AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest, AuthorizationStart,
    Credentials, LoginSession, PendingAuthorization,
};
use crate::error::{BrokenReason, ChannelError, ErrorKind};
use crate::ids::{ChannelKind, ChannelListingId, ChannelOrderId};
use crate::listing::{
    ChannelListing, ChannelListingState, EndListing, ListingOutcome, ListingUpdate, NewListing,
};
use crate::money::{Currency, Money};
use crate::order::{
    CancellationRequest, CurrencySource, IdempotencyKey, Order, RefundRequest, ShipmentRequest,
};

/// A scripted failure: which call of which operation fails, with what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureRule {
    /// The operation.
    pub operation: Operation,
    /// Fail when the operation's call count (1-based, counting every call since the channel was
    /// made) reaches this number; `None` fails the next calls.
    pub on_call: Option<u64>,
    /// How many calls fail (for `on_call: None`).
    pub times: u32,
    /// The error kind returned.
    pub kind: ErrorKind,
    /// Apply the request first, then fail: the channel did the work but the answer was lost.
    pub after_applying: bool,
}

/// What a [`MemoryChannel`] has received, for assertions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryChannelStats {
    /// Calls per operation, failed ones included.
    pub calls: BTreeMap<Operation, u64>,
    /// Shipments, refunds and cancellations received again with a key already applied (absorbed,
    /// as a channel honouring idempotency keys does).
    pub duplicate_sends: u64,
    /// Shipments, refunds and cancellations received marked as resends (an earlier attempt
    /// may have been applied without its outcome being recorded).
    pub resends: u64,
    /// The most acknowledgements that were in flight at once (each one yields to the runtime
    /// once, so callers that overlap them are seen overlapping).
    pub most_acknowledgements_at_once: u64,
}

#[derive(Debug)]
struct State {
    /// Acknowledgements in flight now.
    acknowledging: u64,
    capabilities: Capabilities,
    account: AccountInfo,
    revoked: Option<String>,
    listings: BTreeMap<ChannelListingId, ChannelListing>,
    next_listing: u64,
    orders: BTreeMap<u64, Order>,
    order_seq: HashMap<ChannelOrderId, u64>,
    /// Orders sent as unreadable: the channel's error, whether their id can still be read, and
    /// whether a read by id fails too.
    unreadable: HashMap<ChannelOrderId, (String, bool, bool)>,
    next_seq: u64,
    acknowledged: BTreeSet<ChannelOrderId>,
    shipments: Vec<ShipmentRequest>,
    refunds: Vec<RefundRequest>,
    cancellations: Vec<CancellationRequest>,
    /// Every batch of listing updates taken (failed calls excluded), in order.
    update_batches: Vec<Vec<ListingUpdate>>,
    applied_keys: BTreeSet<IdempotencyKey>,
    failures: Vec<FailureRule>,
    stats: MemoryChannelStats,
    page_size: usize,
    session_lifetime: TimeDelta,
    handed: Option<crate::credentials::CredentialKind>,
    sink: Option<Arc<dyn CredentialSink>>,
}

/// A complete channel kept in memory, for engine tests and examples.
///
/// It keeps listings and orders, pages through them, honours idempotency keys, acknowledges
/// orders, and runs the login-type authorization flow. Its capabilities are configurable and any
/// call can be scripted to fail ([`fail_nth`](Self::fail_nth), [`fail_next`](Self::fail_next),
/// [`revoke_credentials`](Self::revoke_credentials)). Orders are returned in the order they were
/// added (or last edited); the cursor is the position of the last order returned. With the
/// `orders_acknowledge` capability the feed is instead every order not yet acknowledged, as with
/// ChannelAdvisor's export flag, and no cursor is returned.
#[derive(Debug, Clone)]
pub struct MemoryChannel {
    kind: ChannelKind,
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
}

impl MemoryChannel {
    /// A channel presenting itself as `kind`, with every capability ([`Capabilities::all`]).
    pub fn new(kind: ChannelKind) -> Self {
        Self {
            kind,
            clock: Arc::new(SystemClock),
            state: Arc::new(Mutex::new(State {
                acknowledging: 0,
                capabilities: Capabilities::all(),
                account: AccountInfo {
                    account_id: "memory-account".into(),
                    name: Some("Memory test account".into()),
                    currency: Some(Currency::USD),
                    credentials_expire_at: None,
                },
                revoked: None,
                listings: BTreeMap::new(),
                next_listing: 1,
                orders: BTreeMap::new(),
                order_seq: HashMap::new(),
                unreadable: HashMap::new(),
                next_seq: 1,
                acknowledged: BTreeSet::new(),
                shipments: Vec::new(),
                refunds: Vec::new(),
                cancellations: Vec::new(),
                update_batches: Vec::new(),
                applied_keys: BTreeSet::new(),
                failures: Vec::new(),
                stats: MemoryChannelStats::default(),
                page_size: 50,
                session_lifetime: TimeDelta::days(30),
                handed: None,
                sink: None,
            })),
        }
    }

    /// Sets the capabilities.
    pub fn with_capabilities(self, capabilities: Capabilities) -> Self {
        self.lock().capabilities = capabilities;
        self
    }

    /// Uses `clock` for timestamps (sessions, authorization).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the largest page it returns.
    pub fn with_page_size(self, page_size: usize) -> Self {
        self.lock().page_size = page_size.max(1);
        self
    }

    /// Sets the account `verify` returns.
    pub fn with_account(self, account: AccountInfo) -> Self {
        self.lock().account = account;
        self
    }

    /// Sets the lifetime of sessions made by the authorization flow.
    pub fn with_session_lifetime(self, lifetime: TimeDelta) -> Self {
        self.lock().session_lifetime = lifetime;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ----- setting up and changing things "outside" -----

    /// Adds (or replaces) a listing.
    pub fn add_listing(&self, listing: ChannelListing) {
        self.lock().listings.insert(listing.id.clone(), listing);
    }

    /// Deletes a listing as if the seller removed it at the channel: a linked listing becomes a
    /// broken link.
    pub fn delete_listing_outside(&self, id: &ChannelListingId) -> Option<ChannelListing> {
        self.lock().listings.remove(id)
    }

    /// Adds an order at the end of the feed.
    pub fn add_order(&self, order: Order) {
        let mut s = self.lock();
        let seq = s.next_seq;
        s.next_seq += 1;
        if let Some(old) = s.order_seq.insert(order.channel_order_id.clone(), seq) {
            s.orders.remove(&old);
        }
        s.orders.insert(seq, order);
    }

    /// Changes an order as if edited at the channel; it moves to the end of the feed, so it is
    /// downloaded again. Returns false when there is no such order.
    pub fn edit_order_outside(&self, id: &ChannelOrderId, edit: impl FnOnce(&mut Order)) -> bool {
        let mut order = {
            let s = self.lock();
            match s.order_seq.get(id).and_then(|seq| s.orders.get(seq)) {
                Some(o) => o.clone(),
                None => return false,
            }
        };
        edit(&mut order);
        self.add_order(order);
        true
    }

    /// Changes an order at the channel without moving it in the feed, as a channel whose order
    /// feed does not show every change again (an event journal that reported the order once):
    /// only a read by id sees the change. Returns false when there is no such order.
    pub fn edit_order_in_place(&self, id: &ChannelOrderId, edit: impl FnOnce(&mut Order)) -> bool {
        let mut s = self.lock();
        let Some(seq) = s.order_seq.get(id).copied() else {
            return false;
        };
        match s.orders.get_mut(&seq) {
            Some(o) => {
                edit(o);
                true
            }
            None => false,
        }
    }

    /// Sends an order as data that cannot be read (a malformed record), with the channel's
    /// `message`: the download returns it among the page's `rejected`, with its id when
    /// `id_readable`, else without one. The cursor never moves past it unless the engine can
    /// record it under its id and read it again by id (`orders_get_by_id`), as a careful adapter
    /// does. Returns false when there is no such order.
    pub fn make_order_unreadable(
        &self,
        id: &ChannelOrderId,
        message: impl Into<String>,
        id_readable: bool,
    ) -> bool {
        let mut s = self.lock();
        if !s.order_seq.contains_key(id) {
            return false;
        }
        s.unreadable
            .insert(id.clone(), (message.into(), id_readable, true));
        true
    }

    /// Sends an order as unreadable in the order feed only (a list endpoint whose shape differs
    /// from the single-order one): the download rejects it, with its id; a read by id reads it.
    /// Returns false when there is no such order.
    pub fn make_order_unreadable_in_feed(
        &self,
        id: &ChannelOrderId,
        message: impl Into<String>,
    ) -> bool {
        let mut s = self.lock();
        if !s.order_seq.contains_key(id) {
            return false;
        }
        s.unreadable
            .insert(id.clone(), (message.into(), true, false));
        true
    }

    /// Sends the order as readable data again (the channel fixed it).
    pub fn make_order_readable(&self, id: &ChannelOrderId) {
        self.lock().unreadable.remove(id);
    }

    /// Makes every call fail with an `Auth` error carrying `channel_message`, as when the seller
    /// regenerated the secret or revoked access.
    pub fn revoke_credentials(&self, channel_message: impl Into<String>) {
        self.lock().revoked = Some(channel_message.into());
    }

    /// Accepts the credentials again.
    pub fn restore_credentials(&self) {
        self.lock().revoked = None;
    }

    /// Renews the credentials on the channel's side, as a rotating refresh token does: the new
    /// credentials are saved through the sink the engine gave
    /// ([`Channel::use_credential_sink`]) and, once saved, used. Fails when no sink was given
    /// or the sink fails (the old credentials stay in use).
    pub async fn renew_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        let sink = self.lock().sink.clone().ok_or_else(|| {
            ChannelError::invalid(
                "no credential sink: the channel is not registered with an engine",
            )
        })?;
        sink.save(credentials).await?;
        self.lock().handed = Some(credentials.kind());
        Ok(())
    }

    /// Fails the `n`-th call (1-based, counted since the channel was made) of `operation`.
    pub fn fail_nth(&self, operation: Operation, n: u64, kind: ErrorKind) {
        self.add_failure(FailureRule {
            operation,
            on_call: Some(n),
            times: 1,
            kind,
            after_applying: false,
        });
    }

    /// Fails the next `times` calls of `operation`.
    pub fn fail_next(&self, operation: Operation, times: u32, kind: ErrorKind) {
        self.add_failure(FailureRule {
            operation,
            on_call: None,
            times,
            kind,
            after_applying: false,
        });
    }

    /// Adds a failure rule.
    pub fn add_failure(&self, rule: FailureRule) {
        self.lock().failures.push(rule);
    }

    /// Removes every failure rule.
    pub fn clear_failures(&self) {
        self.lock().failures.clear();
    }

    // ----- inspecting -----

    /// A listing by id.
    pub fn listing(&self, id: &ChannelListingId) -> Option<ChannelListing> {
        self.lock().listings.get(id).cloned()
    }

    /// Every listing.
    pub fn listings(&self) -> Vec<ChannelListing> {
        self.lock().listings.values().cloned().collect()
    }

    /// Every order, in feed order.
    pub fn orders(&self) -> Vec<Order> {
        self.lock().orders.values().cloned().collect()
    }

    /// Orders acknowledged so far.
    pub fn acknowledged(&self) -> BTreeSet<ChannelOrderId> {
        self.lock().acknowledged.clone()
    }

    /// Shipments received (each idempotency key once).
    pub fn shipments(&self) -> Vec<ShipmentRequest> {
        self.lock().shipments.clone()
    }

    /// Refunds received (each idempotency key once).
    pub fn refunds(&self) -> Vec<RefundRequest> {
        self.lock().refunds.clone()
    }

    /// Every batch of listing updates the channel took, in the order received (a call refused
    /// before it was applied is not included; one whose items were refused one by one is).
    pub fn update_batches(&self) -> Vec<Vec<ListingUpdate>> {
        self.lock().update_batches.clone()
    }

    /// Cancellations received (each idempotency key once).
    pub fn cancellations(&self) -> Vec<CancellationRequest> {
        self.lock().cancellations.clone()
    }

    /// The kind of the credentials last handed over by
    /// [`Channel::use_credentials`], if any.
    pub fn handed_credentials(&self) -> Option<crate::credentials::CredentialKind> {
        self.lock().handed
    }

    /// Counters.
    pub fn stats(&self) -> MemoryChannelStats {
        self.lock().stats.clone()
    }

    /// Calls of one operation so far.
    pub fn calls(&self, operation: Operation) -> u64 {
        self.lock()
            .stats
            .calls
            .get(&operation)
            .copied()
            .unwrap_or(0)
    }

    // ----- the call pipeline -----

    fn err(&self, op: Operation, e: ChannelError) -> ChannelError {
        e.with_channel(self.kind).with_operation(op.as_str())
    }

    /// Counts the call, checks support and credentials, and returns a scripted failure if one is
    /// due: `Err` now, or `Ok(Some(error))` to return after applying the request.
    fn enter(&self, op: Operation) -> Result<Option<ChannelError>, ChannelError> {
        let mut s = self.lock();
        let n = {
            let c = s.stats.calls.entry(op).or_insert(0);
            *c += 1;
            *c
        };
        if !s.capabilities.supports(op) {
            return Err(self.err(
                op,
                ChannelError::unsupported(format!("{} does not support {op}", self.kind)),
            ));
        }
        // Logging in again is how revoked credentials are replaced, so it is always allowed.
        if let Some(msg) = s.revoked.as_ref().filter(|_| op != Operation::Authorize) {
            return Err(self.err(
                op,
                ChannelError::auth(BrokenReason::CredentialsRejected, "credentials refused")
                    .with_http_status(401)
                    .with_channel_message(msg.clone()),
            ));
        }
        let due = s.failures.iter().position(|r| {
            r.operation == op
                && match r.on_call {
                    Some(k) => k == n,
                    None => r.times > 0,
                }
        });
        let Some(i) = due else { return Ok(None) };
        let rule = s.failures[i].clone();
        if rule.on_call.is_some() || rule.times <= 1 {
            s.failures.remove(i);
        } else {
            s.failures[i].times -= 1;
        }
        let mut e = ChannelError::new(rule.kind, format!("injected failure of {op} call {n}"));
        if rule.kind == ErrorKind::RateLimited {
            e = e.with_retry_after(std::time::Duration::from_secs(1));
        }
        let e = self.err(op, e);
        if rule.after_applying {
            Ok(Some(e))
        } else {
            Err(e)
        }
    }

    fn finish<T>(&self, after: Option<ChannelError>, value: T) -> Result<T, ChannelError> {
        match after {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }

    fn page_size(s: &State, asked: Option<u32>, max: u32) -> usize {
        let mut n = s.page_size;
        if max > 0 {
            n = n.min(max as usize);
        }
        if let Some(a) = asked {
            n = n.min(a.max(1) as usize);
        }
        n
    }

    fn check_batch(&self, op: Operation, len: usize, max: u32) -> Result<(), ChannelError> {
        if max > 0 && len > max as usize {
            return Err(self.err(
                op,
                ChannelError::invalid(format!("batch of {len} exceeds the maximum of {max}")),
            ));
        }
        Ok(())
    }

    /// One request to the seller's order (shipment, refund, cancellation): refused for an
    /// unknown order, applied once per idempotency key (a repeat counts as a duplicate send), a
    /// resend counted.
    fn send_once<T: Clone>(
        &self,
        op: Operation,
        order_id: &ChannelOrderId,
        resend: bool,
        key: &IdempotencyKey,
        request: &T,
        list: impl FnOnce(&mut State) -> &mut Vec<T>,
    ) -> Result<(), ChannelError> {
        let after = self.enter(op)?;
        let mut s = self.lock();
        self.check_order(op, &s, order_id)?;
        s.stats.resends += u64::from(resend);
        if s.applied_keys.insert(key.clone()) {
            list(&mut s).push(request.clone());
        } else {
            s.stats.duplicate_sends += 1;
        }
        drop(s);
        self.finish(after, ())
    }

    fn check_order(
        &self,
        op: Operation,
        s: &State,
        id: &ChannelOrderId,
    ) -> Result<(), ChannelError> {
        if s.order_seq.contains_key(id) {
            Ok(())
        } else {
            Err(self.err(op, ChannelError::not_found(format!("no order {id}"))))
        }
    }
}

fn recurrency(order: &mut Order, currency: Currency) {
    let fix = |m: &mut Money| *m = Money::new(m.amount(), currency);
    order.currency = currency;
    order.currency_source = CurrencySource::IntegrationDefault;
    for l in &mut order.lines {
        fix(&mut l.unit_price);
    }
    for m in [&mut order.shipping_price, &mut order.tax, &mut order.total]
        .into_iter()
        .flatten()
    {
        fix(m);
    }
}

#[async_trait]
impl Channel for MemoryChannel {
    fn kind(&self) -> ChannelKind {
        self.kind
    }

    fn capabilities(&self) -> Capabilities {
        self.lock().capabilities
    }

    async fn use_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        self.lock().handed = Some(credentials.kind());
        Ok(())
    }

    fn use_credential_sink(&self, sink: Arc<dyn CredentialSink>) {
        self.lock().sink = Some(sink);
    }

    async fn verify(&self) -> Result<AccountInfo, ChannelError> {
        let after = self.enter(Operation::Verify)?;
        let account = self.lock().account.clone();
        self.finish(after, account)
    }

    async fn list_listings(&self, query: &ListingQuery) -> Result<ListingPage, ChannelError> {
        let op = Operation::ListListings;
        let after = self.enter(op)?;
        let s = self.lock();
        let size = Self::page_size(&s, query.page_size, 0);
        let start = query.page.as_ref().map(|p| p.0.clone());
        let mut listings = Vec::new();
        let mut next_page = None;
        let candidates = s
            .listings
            .iter()
            .filter(|(id, _)| start.as_deref().is_none_or(|after| id.as_str() > after))
            .map(|(_, l)| l)
            .filter(|l| query.include_ended || l.state != ChannelListingState::Ended)
            .filter(|l| {
                query.skus.is_empty() || l.sku.as_ref().is_some_and(|k| query.skus.contains(k))
            });
        for l in candidates {
            if listings.len() == size {
                next_page = listings
                    .last()
                    .map(|l: &ChannelListing| PageToken(l.id.as_str().to_owned()));
                break;
            }
            listings.push(l.clone());
        }
        drop(s);
        self.finish(
            after,
            ListingPage {
                listings,
                next_page,
            },
        )
    }

    async fn update_listings(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = Operation::UpdateListings;
        let after = self.enter(op)?;
        let max = self.lock().capabilities.listings_update_max_batch;
        self.check_batch(op, updates.len(), max)?;
        let mut s = self.lock();
        s.update_batches.push(updates.to_vec());
        let mut out = Vec::with_capacity(updates.len());
        for u in updates {
            let result = match s.listings.get_mut(&u.listing_id) {
                None => Err(self.err(
                    op,
                    ChannelError::not_found(format!("no listing {}", u.listing_id)),
                )),
                // Ended but still there: refused, as Allegro and Tradera refuse it.
                Some(l) if l.state == ChannelListingState::Ended => Err(self.err(
                    op,
                    ChannelError::invalid(format!("listing {} has ended", u.listing_id)),
                )),
                Some(l) => match (&l.price, &u.price) {
                    (Some(old), Some(new)) if old.currency() != new.currency() => Err(self.err(
                        op,
                        ChannelError::invalid(format!(
                            "price currency {} differs from the listing's {}",
                            new.currency(),
                            old.currency()
                        )),
                    )),
                    _ => {
                        if let Some(p) = u.price {
                            l.price = Some(p);
                        }
                        if let Some(q) = u.quantity {
                            l.quantity = Some(q);
                        }
                        if let Some(t) = &u.title {
                            l.title = Some(t.clone());
                        }
                        Ok(l.id.clone())
                    }
                },
            };
            out.push(ListingOutcome {
                listing_id: Some(u.listing_id.clone()),
                sku: Some(u.sku.clone()),
                result,
            });
        }
        drop(s);
        self.finish(after, out)
    }

    async fn publish_listings(
        &self,
        listings: &[NewListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = Operation::PublishListings;
        let after = self.enter(op)?;
        let mut s = self.lock();
        let mut out = Vec::with_capacity(listings.len());
        for n in listings {
            let exists = s
                .listings
                .values()
                .any(|l| l.sku.as_ref() == Some(&n.sku) && l.state != ChannelListingState::Ended);
            let result = if exists {
                Err(self.err(
                    op,
                    ChannelError::conflict(format!("a listing with SKU {} already exists", n.sku)),
                ))
            } else {
                let id = ChannelListingId::new(format!("mem-{}", s.next_listing))
                    .map_err(|e| self.err(op, ChannelError::invalid(e.to_string())))?;
                s.next_listing += 1;
                let (state, raw) = if n.publish {
                    (ChannelListingState::Live, "live")
                } else {
                    (ChannelListingState::Draft, "draft")
                };
                s.listings.insert(
                    id.clone(),
                    ChannelListing {
                        id: id.clone(),
                        sku: Some(n.sku.clone()),
                        title: Some(n.title.clone()),
                        price: Some(n.price),
                        quantity: Some(n.quantity),
                        state,
                        raw_state: raw.into(),
                    },
                );
                Ok(id)
            };
            out.push(ListingOutcome {
                listing_id: result.as_ref().ok().cloned(),
                sku: Some(n.sku.clone()),
                result,
            });
        }
        drop(s);
        self.finish(after, out)
    }

    async fn end_listings(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = Operation::EndListings;
        let after = self.enter(op)?;
        let max = self.lock().capabilities.listings_end_max_batch;
        self.check_batch(op, listings.len(), max)?;
        let mut s = self.lock();
        let out = listings
            .iter()
            .map(|e| {
                let result = match s.listings.get_mut(&e.listing_id) {
                    Some(l) => {
                        l.state = ChannelListingState::Ended;
                        l.raw_state = "ended".into();
                        Ok(l.id.clone())
                    }
                    None => Err(self.err(
                        op,
                        ChannelError::not_found(format!("no listing {}", e.listing_id)),
                    )),
                };
                ListingOutcome {
                    listing_id: Some(e.listing_id.clone()),
                    sku: e.sku.clone(),
                    result,
                }
            })
            .collect();
        drop(s);
        self.finish(after, out)
    }

    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError> {
        let op = Operation::FetchOrders;
        let after = self.enter(op)?;
        let parse_seq = |text: &str, what: &str| {
            text.parse::<u64>().map_err(|_| {
                self.err(
                    op,
                    ChannelError::invalid(format!("malformed {what} {text:?}")),
                )
            })
        };
        let from_cursor = match &query.cursor {
            Some(c) => parse_seq(&c.0, "cursor")?,
            None => 0,
        };
        let from_page = match &query.page {
            Some(p) => parse_seq(&p.0, "page token")?,
            None => 0,
        };
        let s = self.lock();
        let caps = s.capabilities;
        // With acknowledgement (ChannelAdvisor's export flag) the feed is "every order not yet
        // acknowledged": the cursor plays no part, only the page token of this download.
        let start = if caps.orders_acknowledge {
            from_page
        } else {
            from_cursor.max(from_page)
        };
        let size = Self::page_size(&s, query.page_size, caps.orders_page_max);
        let mut orders = Vec::new();
        let mut rejected = Vec::new();
        let mut last_seq = None;
        // The cursor stops before the first unreadable order that cannot be read again by id.
        let mut hold_before: Option<u64> = None;
        let mut more = false;
        for (seq, o) in s.orders.range(start + 1..) {
            let skip = (caps.orders_acknowledge && s.acknowledged.contains(&o.channel_order_id))
                || query.created_since.is_some_and(|t| o.created_at < t)
                || (!query.states.is_empty() && !query.states.contains(&o.status.state));
            if skip {
                continue;
            }
            if orders.len() + rejected.len() == size {
                more = true;
                break;
            }
            last_seq = Some(*seq);
            if let Some((message, id_readable, _)) = s.unreadable.get(&o.channel_order_id) {
                if !(*id_readable && caps.orders_get_by_id) {
                    hold_before.get_or_insert(*seq);
                }
                rejected.push(RejectedOrder {
                    channel_order_id: id_readable.then(|| o.channel_order_id.clone()),
                    error: ChannelError::invalid(message.clone()),
                });
                continue;
            }
            let mut o = o.clone();
            if !caps.orders_carry_currency {
                recurrency(&mut o, query.default_currency);
            }
            orders.push(o);
        }
        drop(s);
        let cursor = if caps.orders_acknowledge {
            None
        } else {
            match hold_before {
                Some(seq) => Some(Cursor((seq - 1).to_string())),
                None => last_seq.map(|q| Cursor(q.to_string())),
            }
        };
        let next_page = if more {
            last_seq.map(|q| PageToken(q.to_string()))
        } else {
            None
        };
        self.finish(
            after,
            OrderPage {
                orders,
                rejected,
                next_page,
                cursor,
            },
        )
    }

    async fn fetch_orders_by_id(
        &self,
        ids: &[ChannelOrderId],
        default_currency: Currency,
    ) -> Result<OrderPage, ChannelError> {
        let op = Operation::FetchOrdersById;
        let after = self.enter(op)?;
        let s = self.lock();
        let carry = s.capabilities.orders_carry_currency;
        let mut orders = Vec::new();
        let mut rejected = Vec::new();
        for o in s.orders.values() {
            if !ids.contains(&o.channel_order_id) {
                continue;
            }
            if let Some((message, _, true)) = s.unreadable.get(&o.channel_order_id) {
                rejected.push(RejectedOrder {
                    channel_order_id: Some(o.channel_order_id.clone()),
                    error: ChannelError::invalid(message.clone()),
                });
                continue;
            }
            let mut o = o.clone();
            if !carry {
                recurrency(&mut o, default_currency);
            }
            orders.push(o);
        }
        drop(s);
        self.finish(
            after,
            OrderPage {
                orders,
                rejected,
                next_page: None,
                cursor: None,
            },
        )
    }

    async fn acknowledge_order(&self, order: &ChannelOrderId) -> Result<(), ChannelError> {
        let op = Operation::AcknowledgeOrder;
        let after = self.enter(op)?;
        {
            let mut s = self.lock();
            s.acknowledging += 1;
            s.stats.most_acknowledgements_at_once =
                s.stats.most_acknowledgements_at_once.max(s.acknowledging);
        }
        tokio::task::yield_now().await;
        let mut s = self.lock();
        s.acknowledging -= 1;
        self.check_order(op, &s, order)?;
        s.acknowledged.insert(order.clone());
        drop(s);
        self.finish(after, ())
    }

    async fn ship(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        self.send_once(
            Operation::Ship,
            &request.order_id,
            request.resend,
            &request.idempotency_key,
            request,
            |s| &mut s.shipments,
        )
    }

    async fn refund(&self, request: &RefundRequest) -> Result<(), ChannelError> {
        self.send_once(
            Operation::Refund,
            &request.order_id,
            request.resend,
            &request.idempotency_key,
            request,
            |s| &mut s.refunds,
        )
    }

    async fn cancel(&self, request: &CancellationRequest) -> Result<(), ChannelError> {
        self.send_once(
            Operation::Cancel,
            &request.order_id,
            request.resend,
            &request.idempotency_key,
            request,
            |s| &mut s.cancellations,
        )
    }

    async fn begin_authorization(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, ChannelError> {
        let op = Operation::Authorize;
        let after = self.enter(op)?;
        let state = uuid::Uuid::new_v4().to_string();
        let secret = uuid::Uuid::new_v4().to_string();
        let mut url = Url::parse("https://login.memory.invalid/authorize")
            .map_err(|e| self.err(op, ChannelError::invalid(e.to_string())))?;
        url.query_pairs_mut().append_pair("state", &state);
        if let Some(r) = &request.redirect_uri {
            url.query_pairs_mut()
                .append_pair("redirect_uri", r.as_str());
        }
        let now = self.clock.now();
        let start = AuthorizationStart {
            url,
            user_code: request.device_flow.then(|| "MEM-CODE".to_owned()),
            pending: PendingAuthorization {
                state,
                secret: SecretString::from(secret),
                started_at: now,
                expires_at: Some(now + TimeDelta::minutes(10)),
                poll_interval: request
                    .device_flow
                    .then(|| std::time::Duration::from_secs(5)),
            },
        };
        self.finish(after, start)
    }

    async fn complete_authorization(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        let op = Operation::Authorize;
        let after = self.enter(op)?;
        let now = self.clock.now();
        if pending.expires_at.is_some_and(|t| now > t) {
            return Err(self.err(
                op,
                ChannelError::invalid("the authorization expired; start it again"),
            ));
        }
        if pending.poll_interval.is_some() && callback.param("approved").is_none() {
            return self.finish(
                after,
                AuthorizationOutcome::Pending {
                    poll_after: pending.poll_interval.unwrap_or_default(),
                },
            );
        }
        if pending.poll_interval.is_none() {
            if callback.param("state") != Some(pending.state.as_str()) {
                return Err(self.err(
                    op,
                    ChannelError::invalid("the state returned does not match the one sent"),
                ));
            }
            if callback.param("code").is_none() {
                return Err(self.err(op, ChannelError::invalid("no authorization code returned")));
            }
        }
        let lifetime = {
            let mut s = self.lock();
            s.revoked = None;
            s.session_lifetime
        };
        let credentials = Credentials::LoginSession(LoginSession {
            user_id: Some("memory-user".into()),
            token: SecretString::from(format!("mem-session-{}", uuid::Uuid::new_v4())),
            expires_at: now + lifetime,
            refresh_token: None,
            refresh_expires_at: None,
        });
        self.finish(after, AuthorizationOutcome::Authorized(credentials))
    }
}
