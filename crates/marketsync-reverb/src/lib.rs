#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod client;
pub mod config;
pub mod convert;
pub mod decode;
pub mod error;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use marketsync_core::{
    AccountInfo, AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest,
    AuthorizationStart, CancellationRequest, Capabilities, Channel, ChannelError, ChannelKind,
    ChannelListingId, ChannelListingState, ChannelOrderId, Credentials, Currency, Cursor, Delivery,
    EndListing, ErrorKind, ListingOutcome, ListingPage, ListingQuery, ListingUpdate, Money,
    NewListing, OrderPage, OrderQuery, PageToken, PendingAuthorization, RateLimits, RefundRequest,
    ShipmentRequest, Sku,
};
use marketsync_http::{CursorHold, Method};
use serde_json::Value;

pub use client::{ACCEPT_VERSION, HAL_JSON};
pub use config::{
    DEFAULT_BASE_URL, DEFAULT_CONNECTION_NAME, DEFAULT_ORDER_OVERLAP, DEFAULT_PAGE_SIZE,
    DEFAULT_REQUESTS_PER_SECOND, MAX_PAGE_SIZE, ReverbConfig, ReverbConfigBuilder,
    SANDBOX_BASE_URL,
};
pub use error::{ConfigError, parse_error};

use client::ReverbClient;
use convert::path_id;

/// Why `acknowledge_order` is unsupported.
pub const ACKNOWLEDGE_UNSUPPORTED: &str = "Reverb has no flag to mark an order as taken: the adapter's order cursor (an updated-since watermark) is the position in Reverb's order feed";

/// Why the login-type authorization flow is unsupported.
pub const AUTHORIZATION_UNSUPPORTED: &str = "Reverb connects with a personal access token (Reverb > Settings > API & Integrations): to reauthorise, enter the new token with Engine::rotate_credentials (the engine hands it to the adapter) and verify";

/// Why a cancellation of some lines is unsupported.
pub const PARTIAL_CANCEL_UNSUPPORTED: &str = "Reverb has no cancel endpoint: an order (one listing) is cancelled as a whole, by a full refund; refund part of it instead";

/// What the adapter supports (see the crate docs for each value and why).
pub fn capabilities() -> Capabilities {
    Capabilities {
        listings_link: true,
        listings_sync: true,
        listings_publish: true,
        listings_reconcile: true,
        orders_get: true,
        orders_acknowledge: false,
        orders_ship: true,
        orders_refund: true,
        orders_cancel: true,
        shipping_mappings_required: false,
        fulfillment_required: false,
        login_authorization: false,
        orders_carry_currency: true,
        // An update of a listing Reverb no longer has is answered 404: that listing's outcome
        // is `NotFound` (tests/channel.rs). An update of an *ended* listing is not refused (the
        // sandbox answers 200 and the listing stays ended; Reverb documents nothing), so an
        // ended listing is found by the read-back of a later run in which it is not sent.
        listings_update_reports_missing: true,
        // `GET /api/my/orders/selling/{order_number}`: one request per order.
        orders_get_by_id: true,
        // Reverb has no batch endpoint: one request per listing.
        listings_update_max_batch: 1,
        listings_end_max_batch: 1,
        orders_page_max: MAX_PAGE_SIZE,
        // Reverb publishes no rate limit (it answers 429 when exceeded).
        rate_limits: RateLimits::default(),
    }
}

/// The Reverb adapter. Cheap to clone; clones share the token, the rate limiter and the
/// connection pool.
#[derive(Clone, Debug)]
pub struct ReverbChannel {
    config: Arc<ReverbConfig>,
    client: Arc<ReverbClient>,
}

/// Errors that concern the whole account, not one listing: returned for the whole call.
fn whole_call(e: &ChannelError) -> bool {
    matches!(e.kind(), ErrorKind::Auth | ErrorKind::RateLimited)
}

fn outcome(
    listing_id: Option<ChannelListingId>,
    sku: Option<Sku>,
    result: Result<ChannelListingId, ChannelError>,
) -> ListingOutcome {
    ListingOutcome {
        listing_id,
        sku,
        result,
    }
}

/// Which of the SKUs asked for have been seen, by their index in [`ListingQuery::skus`]. Kept in
/// the page tokens of a listing download as `<count>:<hex bits>`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    len: usize,
    bits: Vec<u8>,
}

impl Seen {
    fn new(len: usize) -> Self {
        Self {
            len,
            bits: vec![0; len.div_ceil(8)],
        }
    }

    fn set(&mut self, i: usize) {
        if i < self.len {
            self.bits[i / 8] |= 1 << (i % 8);
        }
    }

    fn get(&self, i: usize) -> bool {
        i < self.len && self.bits[i / 8] & (1 << (i % 8)) != 0
    }

    /// The first SKU at or after `from` not seen yet.
    fn next_unseen(&self, from: usize) -> Option<usize> {
        (from..self.len).find(|&i| !self.get(i))
    }

    fn text(&self) -> String {
        let mut out = format!("{}:", self.len);
        for b in &self.bits {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    fn parse(text: &str) -> Option<Self> {
        let (len, hex) = text.split_once(':')?;
        let len: usize = len.parse().ok()?;
        if !hex.is_ascii() || hex.len() != len.div_ceil(8) * 2 {
            return None;
        }
        let bits = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(Self { len, bits })
    }
}

/// Where a listing download is: the text of its page tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ListingCursor {
    /// Every listing of the shop (no SKUs asked for): `all <next link>`.
    All { link: String },
    /// Reading the whole shop to keep the SKUs asked for: `scan <seen> <next link>`.
    Scan { seen: Seen, link: String },
    /// One lookup per SKU not seen yet, from `index` on; `link` continues the lookup of
    /// `index`: `sku <index> <seen>[ <next link>]`.
    Sku {
        index: usize,
        seen: Seen,
        link: Option<String>,
    },
}

impl ListingCursor {
    fn token(&self) -> PageToken {
        PageToken(match self {
            Self::All { link } => format!("all {link}"),
            Self::Scan { seen, link } => format!("scan {} {link}", seen.text()),
            Self::Sku {
                index,
                seen,
                link: None,
            } => format!("sku {index} {}", seen.text()),
            Self::Sku {
                index,
                seen,
                link: Some(link),
            } => format!("sku {index} {} {link}", seen.text()),
        })
    }

    /// The cursor of `token`, which must belong to a download of `skus` SKUs.
    fn parse(token: &PageToken, skus: usize) -> Option<Self> {
        let mut parts = token.0.splitn(4, ' ');
        let cursor = match parts.next()? {
            "all" if skus == 0 => Self::All {
                link: parts.next()?.to_owned(),
            },
            "scan" => Self::Scan {
                seen: Seen::parse(parts.next()?)?,
                link: parts.next()?.to_owned(),
            },
            "sku" => Self::Sku {
                index: parts.next()?.parse().ok()?,
                seen: Seen::parse(parts.next()?)?,
                link: parts.next().map(str::to_owned),
            },
            _ => return None,
        };
        match &cursor {
            Self::Scan { seen, .. } | Self::Sku { seen, .. } if seen.len != skus => None,
            Self::Sku { index, .. } if *index >= skus => None,
            _ => Some(cursor),
        }
    }
}

/// Whether a shop of `pages` pages (of which the first is read) is cheaper to read whole than
/// looking up `skus` SKUs one by one: the pages left must be fewer than the SKUs. A shop of
/// unknown size is not read whole.
fn scan_is_cheaper(pages: Option<u64>, skus: usize) -> bool {
    pages.is_some_and(|p| p.saturating_sub(1) < u64::try_from(skus).unwrap_or(u64::MAX))
}

/// An order page token: the highest `updated_at` seen so far in this download (`-` for none),
/// the hold of the orders it could not read (see [`CursorHold`](marketsync_http::CursorHold)) and the next link.
fn order_token(watermark: Option<DateTime<Utc>>, hold: CursorHold, link: &str) -> PageToken {
    let mark = watermark.map(cursor_text).unwrap_or_else(|| "-".to_owned());
    PageToken(format!("{mark} {} {link}", hold.to_token()))
}

fn parse_order_token(token: &PageToken) -> Option<(Option<DateTime<Utc>>, CursorHold, String)> {
    let (mark, rest) = token.0.split_once(' ')?;
    let (hold, link) = rest.split_once(' ')?;
    let mark = match mark {
        "-" => None,
        m => Some(parse_time(m)?),
    };
    Some((mark, CursorHold::from_token(hold)?, link.to_owned()))
}

fn cursor_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// When an order (as sent) was last changed: `updated_at`, else `created_at`.
fn changed_at(order: &Value) -> Option<DateTime<Utc>> {
    ["updated_at", "created_at"]
        .iter()
        .find_map(|k| order.get(*k).and_then(Value::as_str).and_then(parse_time))
}

fn order_number(order: &Value) -> Option<ChannelOrderId> {
    let text = match order.get("order_number")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    ChannelOrderId::new(text).ok()
}

/// A whole-page decoding error with the response's HTTP status, as the HTTP client's own JSON
/// decoding reports it.
fn with_status(e: ChannelError, response: &marketsync_http::HttpResponse) -> ChannelError {
    if e.http_status().is_none() {
        e.with_http_status(response.status().as_u16())
    } else {
        e
    }
}

impl ReverbChannel {
    /// An adapter for `config`.
    pub fn new(config: ReverbConfig) -> Result<Self, ChannelError> {
        let config = Arc::new(config);
        let client = ReverbClient::new(config.clone())?;
        Ok(Self {
            config,
            client: Arc::new(client),
        })
    }

    /// The configuration (its token is the one the adapter was built with; see
    /// [`set_credentials`](Self::set_credentials)).
    pub fn config(&self) -> &ReverbConfig {
        &self.config
    }

    /// Replaces the personal access token ([`Credentials::ApiToken`]) for every later request,
    /// in this adapter and all its clones. This is what [`Channel::use_credentials`] does, which
    /// the engine calls when credentials are entered or rotated: to reauthorise, the seller makes
    /// a new token at Reverb (`reverb.com/my/api_settings`), the host enters it with
    /// `Engine::rotate_credentials` (the engine hands it to this adapter, then seals it; the
    /// integration is Unverified from then on) and calls `Engine::verify`. A host that uses the
    /// adapter without the engine calls this method itself.
    ///
    /// Errors: `Invalid` for credentials of another kind or an empty token.
    pub fn set_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        let op = "set_credentials";
        let Credentials::ApiToken(token) = credentials else {
            return Err(self.err(
                ChannelError::invalid(format!(
                    "Reverb takes a personal access token (API token credentials), not {:?} credentials",
                    credentials.kind()
                )),
                op,
            ));
        };
        if secrecy::ExposeSecret::expose_secret(&token.token)
            .trim()
            .is_empty()
        {
            return Err(self.err(
                ChannelError::invalid("the personal access token is empty").with_field("token"),
                op,
            ));
        }
        self.client
            .set_token(token.token.clone())
            .map_err(|e| self.err(e, op))
    }

    fn err(&self, e: ChannelError, operation: &'static str) -> ChannelError {
        let e = if e.channel().is_none() {
            e.with_channel(ChannelKind::Reverb)
        } else {
            e
        };
        if e.operation().is_none() {
            e.with_operation(operation)
        } else {
            e
        }
    }

    fn per_page(&self, requested: Option<u32>) -> String {
        requested
            .unwrap_or(self.config.page_size)
            .clamp(1, MAX_PAGE_SIZE)
            .to_string()
    }

    /// Where an order download starts: the stored watermark minus the overlap. An unreadable
    /// cursor is ignored (the engine drops orders it has seen, so reading more is harmless).
    fn updated_since(&self, cursor: Option<&Cursor>) -> Option<DateTime<Utc>> {
        let cursor = cursor?;
        match parse_time(&cursor.0) {
            Some(at) => Some(
                at - TimeDelta::from_std(self.config.order_overlap).unwrap_or(TimeDelta::zero()),
            ),
            None => {
                tracing::warn!(
                    cursor = %cursor.0,
                    "the stored Reverb order cursor is not a time; downloading without it"
                );
                None
            }
        }
    }

    /// A page of listings: the first (`GET api/my/listings` with `first`) or the one at `link`.
    async fn listings_at(
        &self,
        first: Option<&[(&str, String)]>,
        link: Option<&str>,
    ) -> Result<decode::DecodedListings, ChannelError> {
        let op = "list_listings";
        let response = match (link, first) {
            (Some(link), _) => self.client.get_href_response(link, op).await?,
            (None, q) => {
                self.client
                    .get_response("api/my/listings", q.unwrap_or_default(), op)
                    .await?
            }
        };
        decode::listings_page(response.bytes()).map_err(|e| with_status(e, &response))
    }

    /// A page of the whole shop: every listing (`seen` is `None`: no SKUs asked for), or those
    /// whose SKU is asked for, marking them seen. `first` is the first page's query.
    async fn shop_page(
        &self,
        query: &ListingQuery,
        first: Option<&[(&str, String)]>,
        link: Option<&str>,
        seen: Option<Seen>,
    ) -> Result<ListingPage, ChannelError> {
        let page = self.listings_at(first, link).await?;
        let next = match &page.next_link {
            Some(next) => Some(self.client.resolve(next)?.to_string()),
            None => None,
        };
        let Some(mut seen) = seen else {
            return Ok(ListingPage {
                listings: page
                    .listings
                    .into_iter()
                    .filter(|l| query.include_ended || l.state != ChannelListingState::Ended)
                    .collect(),
                next_page: next.map(|link| ListingCursor::All { link }.token()),
            });
        };
        let n = query.skus.len();
        if first.is_some() && next.is_some() && !scan_is_cheaper(page.pages(), n) {
            // A shop much larger than the SKUs asked for: look them up one by one instead.
            return Ok(ListingPage {
                listings: Vec::new(),
                next_page: Some(
                    ListingCursor::Sku {
                        index: 0,
                        seen: Seen::new(n),
                        link: None,
                    }
                    .token(),
                ),
            });
        }
        let mut wanted: HashMap<&Sku, Vec<usize>> = HashMap::with_capacity(n);
        for (i, s) in query.skus.iter().enumerate() {
            wanted.entry(s).or_default().push(i);
        }
        let mut listings = Vec::new();
        for l in page.listings {
            let Some(indexes) = l.sku.as_ref().and_then(|s| wanted.get(s)) else {
                continue;
            };
            for &i in indexes {
                seen.set(i);
            }
            if query.include_ended || l.state != ChannelListingState::Ended {
                listings.push(l);
            }
        }
        let next_page = match next {
            Some(link) => Some(ListingCursor::Scan { seen, link }.token()),
            // The whole shop in one answer: what was not seen is not there.
            None if first.is_some() => None,
            // Read over several answers: a listing may have moved between pages; the SKUs not
            // seen are looked up on their own.
            None => seen.next_unseen(0).map(|index| {
                ListingCursor::Sku {
                    index,
                    seen,
                    link: None,
                }
                .token()
            }),
        };
        Ok(ListingPage {
            listings,
            next_page,
        })
    }

    /// One page of the lookup of the SKU at `index` (`GET api/my/listings?state=all&sku=..`, or
    /// its next link), keeping listings of exactly that SKU; the next page is the lookup's next
    /// link, else the next SKU not seen.
    async fn sku_page(
        &self,
        query: &ListingQuery,
        index: usize,
        seen: Seen,
        link: Option<String>,
    ) -> Result<ListingPage, ChannelError> {
        let wanted = &query.skus[index];
        let page = match &link {
            Some(link) => self.listings_at(None, Some(link)).await?,
            None => {
                let q = [
                    ("state", "all".to_owned()),
                    ("sku", wanted.as_str().to_owned()),
                    ("per_page", self.per_page(query.page_size)),
                ];
                self.listings_at(Some(&q), None).await?
            }
        };
        let listings = page
            .listings
            .into_iter()
            .filter(|l| l.sku.as_ref() == Some(wanted))
            .filter(|l| query.include_ended || l.state != ChannelListingState::Ended)
            .collect();
        let next_page = match page.next_link {
            Some(next) => Some(ListingCursor::Sku {
                index,
                seen,
                link: Some(self.client.resolve(&next)?.to_string()),
            }),
            None => seen.next_unseen(index + 1).map(|index| ListingCursor::Sku {
                index,
                seen,
                link: None,
            }),
        };
        Ok(ListingPage {
            listings,
            next_page: next_page.map(|c| c.token()),
        })
    }

    async fn update_one(&self, u: &ListingUpdate) -> Result<(), ChannelError> {
        let id = path_id("listing id", u.listing_id.as_str())?;
        let body = wire::UpdateListing {
            title: if self.config.sync_titles {
                u.title.clone()
            } else {
                None
            },
            inventory: u.quantity,
            price: u.price.as_ref().map(convert::money_body),
        };
        if body.title.is_none() && body.inventory.is_none() && body.price.is_none() {
            return Ok(());
        }
        self.client
            .send(
                Method::PUT,
                &format!("api/listings/{id}"),
                &body,
                "update_listings",
            )
            .await
            .map(|_| ())
    }

    async fn publish_one(&self, n: &NewListing) -> Result<ChannelListingId, ChannelError> {
        let body = wire::NewListing {
            sku: n.sku.as_str().to_owned(),
            title: n.title.clone(),
            price: convert::money_body(&n.price),
            has_inventory: n.quantity > 1,
            inventory: n.quantity,
            shipping_profile_id: self.config.shipping_profile_id.clone(),
            publish: n.publish,
        };
        let response = self
            .client
            .send(Method::POST, "api/listings", &body, "publish_listings")
            .await?;
        let created: wire::Created = response.json()?;
        let id = created.listing.map(|l| l.id).ok_or_else(|| {
            ChannelError::new(
                ErrorKind::Channel,
                "Reverb answered the listing creation without the new listing's id; link listings to find it by SKU",
            )
            .with_http_status(response.status().as_u16())
        })?;
        ChannelListingId::new(id).map_err(|e| ChannelError::new(ErrorKind::Channel, e.to_string()))
    }

    async fn end_one(&self, l: &EndListing) -> Result<(), ChannelError> {
        let id = path_id("listing id", l.listing_id.as_str())?;
        let body = wire::EndListing {
            reason: convert::end_reason(l.reason),
        };
        match self
            .client
            .send(
                Method::PUT,
                &format!("api/my/listings/{id}/state/end"),
                &body,
                "end_listings",
            )
            .await
        {
            Ok(_) => Ok(()),
            // Gone already: nothing is left to end.
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/my/orders/selling/{order_number}`.
    async fn read_order(
        &self,
        number: &str,
        operation: &'static str,
    ) -> Result<marketsync_core::Order, ChannelError> {
        let value: Value = self
            .client
            .get(&format!("api/my/orders/selling/{number}"), &[], operation)
            .await?;
        let order: wire::Order = serde_json::from_value(value).map_err(|e| {
            ChannelError::new(
                ErrorKind::Channel,
                format!("Reverb order {number} could not be read: {e}"),
            )
        })?;
        convert::to_order(&order, self.config.default_currency)
    }

    /// `POST /api/my/orders/selling/{order_number}/refund_requests` with `state: approved`.
    /// Sent once: several refund requests per order are allowed, so a repeat could refund
    /// twice.
    async fn refund_request(
        &self,
        number: &str,
        reason: &'static str,
        amount: &Money,
        operation: &'static str,
    ) -> Result<(), ChannelError> {
        if amount.is_negative() || amount.amount().is_zero() {
            return Err(
                ChannelError::invalid("a Reverb refund must be for more than zero")
                    .with_field("refund_amount"),
            );
        }
        let body = wire::Refund {
            state: "approved",
            reason,
            refund_amount: convert::money_body(amount),
        };
        self.client
            .send(
                Method::POST,
                &format!("api/my/orders/selling/{number}/refund_requests"),
                &body,
                operation,
            )
            .await
            .map(|_| ())
    }

    /// The full amount of an order, read from Reverb; `None` when it is already refunded or
    /// cancelled (nothing left to refund: a retry after a lost answer lands here).
    async fn refundable_total(
        &self,
        number: &str,
        operation: &'static str,
    ) -> Result<Option<Money>, ChannelError> {
        let order = self.read_order(number, operation).await?;
        if matches!(order.status.raw.as_str(), "refunded" | "cancelled") {
            return Ok(None);
        }
        order.total.map(Some).ok_or_else(|| {
            ChannelError::new(
                ErrorKind::Channel,
                format!("Reverb order {number} has no total to refund"),
            )
        })
    }
}

#[async_trait]
impl Channel for ReverbChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Reverb
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    /// `GET /api/shop`: the token's own shop (needs the `read_profile` scope). A refused token
    /// is an `Auth` error carrying Reverb's message.
    async fn use_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        self.set_credentials(credentials)
    }

    async fn verify(&self) -> Result<AccountInfo, ChannelError> {
        let op = "verify";
        let shop: wire::Shop = self
            .client
            .get("api/shop", &[], op)
            .await
            .map_err(|e| self.err(e, op))?;
        Ok(AccountInfo {
            account_id: shop.id,
            name: shop.name,
            currency: shop.currency.as_deref().and_then(|c| Currency::new(c).ok()),
            credentials_expire_at: None,
        })
    }

    /// Every listing of the shop: `GET /api/my/listings?state=all&per_page=..`, following
    /// `_links.next`.
    ///
    /// With SKUs, only the listings whose SKU is exactly one of them (whether Reverb's `sku`
    /// filter matches exactly is unconfirmed), read the cheaper of two ways:
    ///
    /// - one SKU: `GET /api/my/listings?state=all&sku=<sku>&per_page=..`;
    /// - more: the first page of the whole shop (`state=all&per_page=100`). Reverb's
    ///   `total_pages` then tells what reading the rest costs; when the pages left are fewer
    ///   than the SKUs, the shop is read to the end and the SKUs asked for are kept (10,000
    ///   SKUs of a 10,000-listing shop: 100 requests, not 10,000). A SKU not seen in a read of
    ///   more than one page is then looked up on its own, so that a listing that moved between
    ///   pages while they were read is not taken for a deleted one. Otherwise (a shop much
    ///   larger than the SKUs asked for, or of unknown size) that first page is dropped and the
    ///   SKUs are looked up one by one.
    ///
    /// Ended listings are left out unless asked for.
    async fn list_listings(&self, query: &ListingQuery) -> Result<ListingPage, ChannelError> {
        let op = "list_listings";
        let cursor = match &query.page {
            None => None,
            Some(token) => Some(ListingCursor::parse(token, query.skus.len()).ok_or_else(
                || {
                    self.err(
                        ChannelError::invalid("not a page token of this Reverb listing download"),
                        op,
                    )
                },
            )?),
        };
        let n = query.skus.len();
        match cursor {
            None if n == 0 => {
                let q = [
                    ("state", "all".to_owned()),
                    ("per_page", self.per_page(query.page_size)),
                ];
                self.shop_page(query, Some(&q), None, None).await
            }
            None if n == 1 => self.sku_page(query, 0, Seen::new(n), None).await,
            None => {
                let q = [
                    ("state", "all".to_owned()),
                    ("per_page", MAX_PAGE_SIZE.to_string()),
                ];
                self.shop_page(query, Some(&q), None, Some(Seen::new(n)))
                    .await
            }
            Some(ListingCursor::All { link }) => {
                self.shop_page(query, None, Some(&link), None).await
            }
            Some(ListingCursor::Scan { seen, link }) => {
                self.shop_page(query, None, Some(&link), Some(seen)).await
            }
            Some(ListingCursor::Sku { index, seen, link }) => {
                self.sku_page(query, index, seen, link).await
            }
        }
        .map_err(|e| self.err(e, op))
    }

    /// One `PUT /api/listings/{id}` per listing with `inventory` and
    /// `price: {amount, currency}` (and `title` when configured). 404 → `NotFound` (the listing
    /// is gone: a broken link), 412/422 → `Invalid` with the field, per listing. An `Auth` or
    /// `RateLimited` error concerns the account and fails the whole call.
    async fn update_listings(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "update_listings";
        let mut out = Vec::with_capacity(updates.len());
        for u in updates {
            let result = match self.update_one(u).await {
                Err(e) if whole_call(&e) => return Err(self.err(e, op)),
                r => r
                    .map(|()| u.listing_id.clone())
                    .map_err(|e| self.err(e, op)),
            };
            out.push(outcome(
                Some(u.listing_id.clone()),
                Some(u.sku.clone()),
                result,
            ));
        }
        Ok(out)
    }

    /// One `POST /api/listings` per listing with `sku`, `title`, `price`, `inventory`,
    /// `has_inventory`, the configured `shipping_profile_id` and `publish` (a draft unless the
    /// engine asks to publish). The new listing's id is the outcome. Sent once: a create is
    /// not repeated after a lost answer (a duplicate listing is worse than a failure that the
    /// next link run clears up by SKU).
    async fn publish_listings(
        &self,
        listings: &[NewListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "publish_listings";
        let mut out = Vec::with_capacity(listings.len());
        for n in listings {
            let result = match self.publish_one(n).await {
                Err(e) if whole_call(&e) => return Err(self.err(e, op)),
                r => r.map_err(|e| self.err(e, op)),
            };
            out.push(outcome(
                result.as_ref().ok().cloned(),
                Some(n.sku.clone()),
                result,
            ));
        }
        Ok(out)
    }

    /// One `PUT /api/my/listings/{id}/state/end` with `{"reason": "not_sold"}` per listing. A
    /// 404 means the listing is gone already: done.
    async fn end_listings(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "end_listings";
        let mut out = Vec::with_capacity(listings.len());
        for l in listings {
            let result = match self.end_one(l).await {
                Err(e) if whole_call(&e) => return Err(self.err(e, op)),
                r => r
                    .map(|()| l.listing_id.clone())
                    .map_err(|e| self.err(e, op)),
            };
            out.push(outcome(Some(l.listing_id.clone()), l.sku.clone(), result));
        }
        Ok(out)
    }

    /// `GET /api/my/orders/selling/all` with `updated_start_date` = the cursor minus the
    /// overlap, `created_start_date` = the engine's window, and `per_page`, then
    /// `_links.next.href` until Reverb sends none. The cursor is the highest `updated_at`
    /// returned (never lower than the previous one), given only with the last page, so it is
    /// stored only once every page is recorded. It never passes an order that could not be
    /// read: it stops at the oldest `updated_at` of the download's rejected orders, or stays
    /// where it was when a rejected order has no readable time, so the next run downloads the
    /// order again.
    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError> {
        let op = "fetch_orders";
        let previous = query.cursor.as_ref().and_then(|c| parse_time(&c.0));
        let (mark, hold, response) = match &query.page {
            Some(token) => {
                let (mark, hold, link) = parse_order_token(token).ok_or_else(|| {
                    self.err(
                        ChannelError::invalid("not a page token of a Reverb order download"),
                        op,
                    )
                })?;
                let response = self
                    .client
                    .get_href_response(&link, op)
                    .await
                    .map_err(|e| self.err(e, op))?;
                (mark.max(previous), hold, response)
            }
            None => {
                let mut q: Vec<(&str, String)> = Vec::new();
                if let Some(since) = self.updated_since(query.cursor.as_ref()) {
                    q.push(("updated_start_date", wire::datetime(since)));
                }
                if let Some(since) = query.created_since {
                    q.push(("created_start_date", wire::datetime(since)));
                }
                q.push(("per_page", self.per_page(query.page_size)));
                let response = self
                    .client
                    .get_response("api/my/orders/selling/all", &q, op)
                    .await
                    .map_err(|e| self.err(e, op))?;
                (previous, CursorHold::None, response)
            }
        };
        let page = decode::orders_page_with(response.bytes(), query.default_currency)
            .map_err(|e| self.err(with_status(e, &response), op))?;
        let watermark = mark.max(page.latest_change);
        let hold = hold.and(page.hold);
        let mut out = OrderPage {
            orders: page.orders,
            rejected: page.rejected,
            ..OrderPage::default()
        };
        match page.next_link {
            Some(next) => {
                let url = self.client.resolve(&next).map_err(|e| self.err(e, op))?;
                out.next_page = Some(order_token(watermark, hold, url.as_str()));
            }
            None => {
                out.cursor = hold
                    .cursor(watermark, previous)
                    .map(|w| Cursor(cursor_text(w)));
            }
        }
        Ok(out)
    }

    /// `GET /api/my/orders/selling/{order_number}`, one request per order (Reverb has no read
    /// of several orders by number). An order Reverb does not know (404) is left out; one it
    /// sends but that cannot be read is rejected with its number. Any other failure fails the
    /// call. A number that cannot be a Reverb order number is one Reverb does not know.
    async fn fetch_orders_by_id(
        &self,
        ids: &[ChannelOrderId],
        default_currency: Currency,
    ) -> Result<OrderPage, ChannelError> {
        let op = "fetch_orders_by_id";
        let mut out = OrderPage::default();
        for id in ids {
            let Ok(number) = path_id("order number", id.as_str()) else {
                tracing::warn!(order = %id.as_str(), "not a Reverb order number; left out");
                continue;
            };
            let response = match self
                .client
                .get_response(&format!("api/my/orders/selling/{number}"), &[], op)
                .await
            {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(self.err(e, op)),
            };
            match decode::order(response.bytes(), default_currency) {
                Ok(o) => out.orders.push(o),
                Err(e) => out.rejected.push(marketsync_core::RejectedOrder {
                    channel_order_id: Some(id.clone()),
                    error: self.err(with_status(e, &response), op),
                }),
            }
        }
        Ok(out)
    }

    /// Unsupported: see [`ACKNOWLEDGE_UNSUPPORTED`].
    async fn acknowledge_order(&self, _order: &ChannelOrderId) -> Result<(), ChannelError> {
        Err(self.err(
            ChannelError::unsupported(ACKNOWLEDGE_UNSUPPORTED),
            "acknowledge_order",
        ))
    }

    /// `POST /api/my/orders/selling/{order_number}/ship` with `provider` (Reverb's name for the
    /// carrier, `Other` when Reverb does not know it), `tracking_number` (required) and
    /// `send_notification`; for a pickup ([`Delivery::PickedUp`]),
    /// `POST …/mark_picked_up` with the pickup `date`. A Reverb order is one listing, so a
    /// shipment always covers the whole order and its lines are not sent.
    async fn ship(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        let op = "ship";
        let s = &request.shipment;
        let number =
            path_id("order number", request.order_id.as_str()).map_err(|e| self.err(e, op))?;
        if request.resend {
            // An earlier attempt may have been applied without its outcome being recorded, and
            // Reverb takes no idempotency key: an order already shipped or picked up is done.
            let order = self
                .read_order(number, op)
                .await
                .map_err(|e| self.err(e, op))?;
            if matches!(
                order.status.raw.as_str(),
                "shipped" | "picked_up" | "received"
            ) {
                return Ok(());
            }
        }
        let sent = match s.delivery {
            Delivery::PickedUp => {
                let body = wire::PickedUp {
                    date: wire::datetime(s.shipped_at),
                };
                self.client
                    .send(
                        Method::POST,
                        &format!("api/my/orders/selling/{number}/mark_picked_up"),
                        &body,
                        op,
                    )
                    .await
            }
            Delivery::Shipped => {
                let tracking_number = s
                    .tracking_number
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        self.err(
                            ChannelError::invalid(
                                "Reverb needs a tracking number to mark an order shipped",
                            )
                            .with_field("tracking_number"),
                            op,
                        )
                    })?;
                let body = wire::Ship {
                    provider: convert::provider(s.carrier.as_deref()).to_owned(),
                    tracking_number: tracking_number.to_owned(),
                    send_notification: self.config.send_notification,
                };
                self.client
                    .send(
                        Method::POST,
                        &format!("api/my/orders/selling/{number}/ship"),
                        &body,
                        op,
                    )
                    .await
            }
        };
        sent.map(|_| ()).map_err(|e| self.err(e, op))
    }

    /// A seller-initiated refund: `POST /api/my/orders/selling/{order_number}/refund_requests`
    /// with `{"state": "approved", "reason": .., "refund_amount": {amount, currency}}` (body from
    /// a third-party summary of Reverb's docs: only these fields are sent). The amount is the
    /// refund's, else the sum of its line amounts, else (a full refund) the order's `total`
    /// read first with `GET /api/my/orders/selling/{order_number}` — an order already refunded
    /// or cancelled is then left alone. `restock` and `note` are not sent: Reverb keeps its
    /// own inventory, and no note field is known.
    async fn refund(&self, request: &RefundRequest) -> Result<(), ChannelError> {
        let op = "refund";
        let r = &request.refund;
        let number =
            path_id("order number", request.order_id.as_str()).map_err(|e| self.err(e, op))?;
        let reason = convert::refund_reason(r.reason).map_err(|e| self.err(e, op))?;
        let amount = match (r.amount, r.lines.is_empty()) {
            (Some(a), _) => a,
            (None, true) => match self
                .refundable_total(number, op)
                .await
                .map_err(|e| self.err(e, op))?
            {
                Some(total) => total,
                None => return Ok(()),
            },
            (None, false) => {
                let amounts: Option<Vec<Money>> = r.lines.iter().map(|l| l.amount).collect();
                let currency = r.lines.iter().find_map(|l| l.amount.map(|m| m.currency()));
                match (amounts, currency) {
                    (Some(a), Some(c)) => Money::sum(c, a.iter()).map_err(|e| {
                        self.err(
                            ChannelError::invalid(e.to_string()).with_field("refund_amount"),
                            op,
                        )
                    })?,
                    _ => {
                        return Err(self.err(
                            ChannelError::invalid(
                                "Reverb refunds an amount: give the refund's amount, or an amount on every line",
                            )
                            .with_field("refund_amount"),
                            op,
                        ));
                    }
                }
            }
        };
        self.refund_request(number, reason, &amount, op)
            .await
            .map_err(|e| self.err(e, op))
    }

    /// Reverb has no cancel endpoint; an order is cancelled by a full refund: the order is read
    /// (`GET /api/my/orders/selling/{order_number}`) and, unless already refunded or cancelled,
    /// its `total` refunded as in [`refund`](Channel::refund). Cancelling some lines is
    /// `Unsupported` ([`PARTIAL_CANCEL_UNSUPPORTED`]).
    async fn cancel(&self, request: &CancellationRequest) -> Result<(), ChannelError> {
        let op = "cancel";
        let c = &request.cancellation;
        if !c.lines.is_empty() {
            return Err(self.err(ChannelError::unsupported(PARTIAL_CANCEL_UNSUPPORTED), op));
        }
        let number =
            path_id("order number", request.order_id.as_str()).map_err(|e| self.err(e, op))?;
        let reason = convert::refund_reason(c.reason).map_err(|e| self.err(e, op))?;
        let Some(total) = self
            .refundable_total(number, op)
            .await
            .map_err(|e| self.err(e, op))?
        else {
            return Ok(());
        };
        self.refund_request(number, reason, &total, op)
            .await
            .map_err(|e| self.err(e, op))
    }

    /// Unsupported: see [`AUTHORIZATION_UNSUPPORTED`].
    async fn begin_authorization(
        &self,
        _request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, ChannelError> {
        Err(self.err(
            ChannelError::unsupported(AUTHORIZATION_UNSUPPORTED),
            "begin_authorization",
        ))
    }

    /// Unsupported: see [`AUTHORIZATION_UNSUPPORTED`].
    async fn complete_authorization(
        &self,
        _pending: &PendingAuthorization,
        _callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        Err(self.err(
            ChannelError::unsupported(AUTHORIZATION_UNSUPPORTED),
            "complete_authorization",
        ))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn seen_sets_round_trip_through_text() {
        let mut seen = Seen::new(11);
        for i in [0, 3, 8, 10, 11, 500] {
            seen.set(i);
        }
        assert!(seen.get(0) && seen.get(3) && seen.get(8) && seen.get(10));
        assert!(!seen.get(1) && !seen.get(9) && !seen.get(11));
        assert_eq!(seen.text(), "11:0905");
        assert_eq!(Seen::parse(&seen.text()), Some(seen.clone()));
        assert_eq!(seen.next_unseen(0), Some(1));
        assert_eq!(seen.next_unseen(8), Some(9));
        assert_eq!(seen.next_unseen(10), None);
        assert_eq!(Seen::new(0).text(), "0:");
        for bad in ["11:09", "11:0g05", "x:0905", "0905", "2:é"] {
            assert_eq!(Seen::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn listing_tokens_round_trip_and_belong_to_their_query() {
        let link = "https://api.reverb.com/api/my/listings?page=2&per_page=100&state=all";
        let mut seen = Seen::new(3);
        seen.set(1);
        let cursors = [
            (
                ListingCursor::All { link: link.into() },
                0,
                format!("all {link}"),
            ),
            (
                ListingCursor::Scan {
                    seen: seen.clone(),
                    link: link.into(),
                },
                3,
                format!("scan 3:02 {link}"),
            ),
            (
                ListingCursor::Sku {
                    index: 2,
                    seen: seen.clone(),
                    link: None,
                },
                3,
                "sku 2 3:02".into(),
            ),
            (
                ListingCursor::Sku {
                    index: 0,
                    seen: seen.clone(),
                    link: Some(link.into()),
                },
                3,
                format!("sku 0 3:02 {link}"),
            ),
        ];
        for (cursor, skus, text) in cursors {
            let token = cursor.token();
            assert_eq!(token.0, text);
            assert_eq!(ListingCursor::parse(&token, skus), Some(cursor));
            // Another query's token is refused.
            assert_eq!(ListingCursor::parse(&token, skus + 1), None, "{text}");
        }
        for bad in ["", "3", "2 https://x/", "sku 3 3:00", "scan 3:00", "all"] {
            assert_eq!(
                ListingCursor::parse(&PageToken(bad.into()), 3),
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_shop_is_read_whole_when_its_pages_left_are_fewer_than_the_skus() {
        assert!(scan_is_cheaper(Some(1), 2));
        assert!(scan_is_cheaper(Some(100), 10_000));
        assert!(scan_is_cheaper(Some(10), 10));
        assert!(!scan_is_cheaper(Some(11), 10));
        assert!(!scan_is_cheaper(Some(u64::MAX), 10_000));
        assert!(
            !scan_is_cheaper(None, 10_000),
            "unknown size: one lookup per SKU"
        );
        assert!(scan_is_cheaper(Some(0), 2));
    }

    #[test]
    fn order_tokens_round_trip() {
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap();
        let t = order_token(
            Some(at),
            CursorHold::None,
            "https://x/api/my/orders/selling/all?page=2",
        );
        assert_eq!(
            t.0,
            "2026-03-04T10:00:00Z - https://x/api/my/orders/selling/all?page=2"
        );
        assert_eq!(
            parse_order_token(&t),
            Some((
                Some(at),
                CursorHold::None,
                "https://x/api/my/orders/selling/all?page=2".to_owned()
            ))
        );
        let held = Utc.with_ymd_and_hms(2026, 3, 4, 9, 0, 0).unwrap();
        for hold in [CursorHold::At(held), CursorHold::Previous] {
            let t = order_token(None, hold, "https://x/p");
            assert_eq!(
                parse_order_token(&t),
                Some((None, hold, "https://x/p".to_owned()))
            );
        }
        assert_eq!(parse_order_token(&PageToken("nonsense".into())), None);
        assert_eq!(parse_order_token(&PageToken("- https://x/p".into())), None);
    }

    #[test]
    fn change_times() {
        let v = serde_json::json!({"created_at": "2026-03-01T10:00:00-06:00", "updated_at": "2026-03-02T10:00:00-06:00"});
        assert_eq!(
            changed_at(&v),
            Some(Utc.with_ymd_and_hms(2026, 3, 2, 16, 0, 0).unwrap())
        );
        let v = serde_json::json!({"created_at": "2026-03-01T10:00:00Z", "order_number": 42});
        assert_eq!(
            changed_at(&v),
            Some(Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap())
        );
        assert_eq!(order_number(&v).unwrap().as_str(), "42");
    }

    #[test]
    fn capability_values() {
        let c = capabilities();
        assert!(c.listings_publish && c.listings_reconcile && c.orders_cancel);
        assert!(!c.orders_acknowledge && !c.shipping_mappings_required);
        assert_eq!(c.update_batch(), 1);
        assert_eq!(c.orders_page_max, 100);
        assert!(c.listings_update_reports_missing);
        assert_eq!(c.rate_limits, RateLimits::default());
    }
}
