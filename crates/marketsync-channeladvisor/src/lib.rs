#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod client;
pub mod config;
pub mod convert;
pub mod decode;
pub mod error;
mod wire;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use marketsync_core::credentials::OAuthTokens;
use marketsync_core::{
    AccountInfo, AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest,
    AuthorizationStart, BrokenReason, CancellationRequest, Capabilities, Channel, ChannelError,
    ChannelKind, ChannelListingId, ChannelListingState, ChannelOrderId, Credentials, Currency,
    EndListing, ErrorKind, ListingOutcome, ListingPage, ListingQuery, ListingUpdate, NewListing,
    OrderPage, OrderQuery, PageToken, PendingAuthorization, RateLimits, RefundRequest,
    RejectedOrder, SecretString, ShipmentRequest,
};
use serde_json::Value;

pub use client::{CONCURRENT_REQUESTS, MAX_BATCH, REQUESTS_PER_MINUTE};
pub use config::{
    ChannelAdvisorConfig, ChannelAdvisorConfigBuilder, PriceField, QuantityUpdateType,
    ShippingMethodText,
};
pub use error::{ConfigError, parse_error};

use client::CaClient;
use convert::numeric_id;
use wire::BatchRequest;

/// A whole-page decoding error with the response's HTTP status, as the HTTP client's own JSON
/// decoding reports it.
fn with_status(e: ChannelError, response: &marketsync_http::HttpResponse) -> ChannelError {
    if e.http_status().is_none() {
        e.with_http_status(response.status().as_u16())
    } else {
        e
    }
}

/// The publish rule: products are created in ChannelAdvisor,
/// never through this integration.
pub const PUBLISH_UNSUPPORTED: &str = "ChannelAdvisor does not support publishing listings through this integration: the product must already exist in ChannelAdvisor and be linked by SKU (run link listings)";

/// The fewest SKU requests (of up to 20 SKUs each) at which `list_listings` considers reading
/// the whole catalogue instead, in server pages (about 100 products each), keeping the products
/// asked for. The first such read asks `$count=true` and goes on only when the rest of the
/// catalogue takes fewer requests than the SKU requests would; otherwise it starts over with the
/// SKUs, so the first page is the most it wastes, and the catalogue's size is remembered so that
/// a later call does not ask again.
pub const CATALOGUE_MIN_CHUNKS: usize = 5;

/// The largest catalogue `list_listings` reads whole: ChannelAdvisor documents that paging
/// through more than 250,000 products times out.
pub const CATALOGUE_MAX_PRODUCTS: u64 = 200_000;

/// Listing updates per `update_listings` call: each can take two requests (quantity and price),
/// so 50 fill one `$batch` of at most [`MAX_BATCH`] requests.
pub const LISTINGS_PER_UPDATE: u32 = 50;

/// Orders per `fetch_orders_by_id` request: the `$filter` holds one `ID eq n` clause each (20,
/// as the SKU filters of listing reads, keeps the filter far below any URL limit).
pub const ORDERS_BY_ID_PER_REQUEST: usize = 20;

/// The ChannelAdvisor adapter (and OfferUp through it, see
/// [`ChannelAdvisorConfig::offerup_builder`]). Cheap to clone.
#[derive(Clone, Debug)]
pub struct ChannelAdvisorChannel {
    config: Arc<ChannelAdvisorConfig>,
    client: CaClient,
    /// Requests a read of the whole catalogue took when last seen, with and without ended
    /// products (see [`CATALOGUE_MIN_CHUNKS`]); `u64::MAX` when it cannot be told.
    catalogue_requests: Arc<Mutex<[Option<u64>; 2]>>,
    /// The profile's `CurrencyCode` as `verify` last read it: the currency of listing prices
    /// when none is configured.
    profile_currency: Arc<Mutex<Option<Currency>>>,
}

impl ChannelAdvisorChannel {
    /// An adapter for `config`.
    pub fn new(config: ChannelAdvisorConfig) -> Result<Self, ChannelError> {
        let client = CaClient::new(&config)?;
        Ok(Self {
            config: Arc::new(config),
            client,
            catalogue_requests: Arc::new(Mutex::new([None; 2])),
            profile_currency: Arc::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ChannelAdvisorConfig {
        &self.config
    }

    /// Installs credentials stored for this integration: [`Credentials::OAuth`] with the
    /// refresh token (and the access token, when one is held and its expiry known). The next
    /// request uses them, and a remembered renewal failure (a revoked refresh token) is
    /// forgotten.
    ///
    /// The engine calls it (through [`Channel::use_credentials`]) whenever credentials are
    /// entered or rotated (`Engine::enter_credentials`, `Engine::rotate_credentials`) and when
    /// the adapter is attached after a restart (`Engine::attach_channel`). So the repair of a
    /// revoked refresh token is: a new refresh token created at ChannelAdvisor,
    /// `Engine::enter_credentials` with it, then `Engine::verify` — the adapter is neither
    /// rebuilt nor re-registered. A host that drives the adapter without the engine calls this
    /// method itself.
    ///
    /// Errors: `Invalid` for credentials of another kind, or for another profile than the
    /// configured one.
    pub fn set_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        let op = "set_credentials";
        let Credentials::OAuth(tokens) = credentials else {
            return Err(self.err(
                ChannelError::invalid(format!(
                    "ChannelAdvisor takes OAuth credentials (a refresh token), not {:?} credentials",
                    credentials.kind()
                )),
                op,
            ));
        };
        if let Some(profile) = &tokens.profile_id
            && profile.trim() != self.config.profile_id.to_string()
        {
            return Err(self.err(
                ChannelError::invalid(format!(
                    "the credentials are for ChannelAdvisor profile {profile}, but this integration is configured for profile {}",
                    self.config.profile_id
                ))
                .with_field("profile_id"),
                op,
            ));
        }
        let (access_token, expires_at) = match (&tokens.access_token, tokens.access_expires_at) {
            (Some(token), Some(at)) => (token.clone(), Some(at)),
            // Without a usable access token the next request renews it first.
            _ => (
                SecretString::from(""),
                Some(chrono::DateTime::<Utc>::UNIX_EPOCH),
            ),
        };
        self.client.tokens.set_tokens(marketsync_http::TokenSet {
            access_token,
            expires_at,
            refresh_token: Some(tokens.refresh_token.clone()),
            scopes: Vec::new(),
        });
        Ok(())
    }

    /// The capabilities for a configuration (see the crate docs for each value and why).
    pub fn capabilities_for(config: &ChannelAdvisorConfig) -> Capabilities {
        Capabilities {
            listings_link: true,
            listings_sync: true,
            listings_publish: false,
            listings_reconcile: config.label.is_some(),
            orders_get: true,
            orders_acknowledge: true,
            // One `$filter` on the ids for up to 20 orders (`fetch_orders_by_id`).
            orders_get_by_id: true,
            orders_ship: true,
            orders_refund: true,
            orders_cancel: true,
            shipping_mappings_required: true,
            fulfillment_required: false,
            login_authorization: config.kind == ChannelKind::ChannelAdvisor,
            orders_carry_currency: true,
            // Each `$batch` part of a product that no longer exists answers 404, which
            // `update_listings` gives that listing as `NotFound`.
            listings_update_reports_missing: true,
            listings_update_max_batch: LISTINGS_PER_UPDATE,
            listings_end_max_batch: MAX_BATCH as u32,
            orders_page_max: 100,
            rate_limits: RateLimits {
                per_minute: Some(REQUESTS_PER_MINUTE),
                per_day: None,
                concurrent: Some(CONCURRENT_REQUESTS),
            },
        }
    }

    fn err(&self, e: ChannelError, operation: &'static str) -> ChannelError {
        let e = if e.channel().is_none() {
            e.with_channel(self.config.kind)
        } else {
            e
        };
        if e.operation().is_none() {
            e.with_operation(operation)
        } else {
            e
        }
    }

    fn profile_clause(&self) -> String {
        format!("ProfileID eq {}", self.config.profile_id)
    }

    /// The `$filter` of one listing request: the profile, then the SKUs of one chunk, then
    /// (for listed products only) the label.
    fn product_filter(&self, skus: Option<&[String]>, include_ended: bool) -> String {
        let mut filter = self.profile_clause();
        if let Some(skus) = skus {
            filter.push_str(&format!(" and ({})", wire::sku_filter(skus)));
        }
        if let (false, Some(label)) = (include_ended, &self.config.label) {
            // OData v4 lambda (ChannelAdvisor: [M], seen as `Labels/Any(..)` in a public
            // client; the lower-case `any` is the standard spelling every OData v4 parser takes).
            filter.push_str(&format!(
                " and Labels/any(l: l/Name eq {})",
                wire::odata_string(label)
            ));
        }
        filter
    }

    /// The product fields a listing read selects: id, SKU, title, quantity and the configured
    /// price field.
    fn product_select(&self) -> String {
        format!(
            "ID,Sku,Title,TotalAvailableQuantity,{}",
            self.config.price_field.as_str()
        )
    }

    /// The currency listing prices are read in: the configured one, else the profile's (known
    /// once `verify` ran).
    fn price_currency(&self) -> Option<Currency> {
        self.config.price_currency.or_else(|| {
            *self
                .profile_currency
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        })
    }

    fn product_url(
        &self,
        skus: Option<&[String]>,
        include_ended: bool,
    ) -> Result<String, ChannelError> {
        self.client.url(
            "Products",
            &[
                ("$filter", self.product_filter(skus, include_ended)),
                ("$expand", "Labels".to_owned()),
                ("$select", self.product_select()),
            ],
        )
    }

    /// The first page of the whole catalogue (the profile's products, on the label unless
    /// ended ones are wanted), with its size: `$count=true`.
    fn catalogue_url(&self, include_ended: bool) -> Result<String, ChannelError> {
        self.client.url(
            "Products",
            &[
                ("$filter", self.product_filter(None, include_ended)),
                ("$expand", "Labels".to_owned()),
                ("$select", self.product_select()),
                ("$count", "true".to_owned()),
            ],
        )
    }

    fn catalogue_slot(&self) -> std::sync::MutexGuard<'_, [Option<u64>; 2]> {
        self.catalogue_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Whether reading the whole catalogue may take fewer requests than `chunks` SKU requests:
    /// unknown yet, or fewer when last seen.
    fn catalogue_may_be_cheaper(&self, include_ended: bool, chunks: usize) -> bool {
        chunks >= CATALOGUE_MIN_CHUNKS
            && self.catalogue_slot()[usize::from(include_ended)]
                .is_none_or(|requests| requests < chunks as u64)
    }

    /// A page of the whole catalogue, keeping the products whose SKU was asked for. On the
    /// first page, goes on only when the rest of the catalogue takes fewer requests than the
    /// `chunks` SKU requests; otherwise the page's products are dropped (none is reported
    /// twice) and the token starts the SKU requests.
    async fn catalogue_page(
        &self,
        url: &str,
        query: &ListingQuery,
        chunks: usize,
        first: bool,
    ) -> Result<ListingPage, ChannelError> {
        let op = "list_listings";
        let response = self
            .client
            .get_response(url, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let page = decode::listings_page(
            response.bytes(),
            self.config.label.as_deref(),
            self.config.price_field,
            self.price_currency(),
        )
        .map_err(|e| self.err(with_status(e, &response), op))?;
        if first {
            let requests = match (&page.next_link, page.count) {
                (None, _) => 1,
                (Some(_), Some(count)) if page.returned > 0 && count <= CATALOGUE_MAX_PRODUCTS => {
                    count.div_ceil(page.returned as u64).max(1)
                }
                // No size (or too large to page through): never again.
                (Some(_), _) => u64::MAX,
            };
            self.catalogue_slot()[usize::from(query.include_ended)] = Some(requests);
            if requests.saturating_sub(1) >= chunks as u64 {
                return Ok(ListingPage {
                    listings: Vec::new(),
                    next_page: Some(PageToken("0".to_owned())),
                });
            }
        }
        let wanted: HashSet<&str> = query.skus.iter().map(|s| s.as_str()).collect();
        let listings = page
            .listings
            .into_iter()
            .filter(|l| query.include_ended || l.state != ChannelListingState::Ended)
            .filter(|l| l.sku.as_ref().is_some_and(|s| wanted.contains(s.as_str())))
            .collect();
        Ok(ListingPage {
            listings,
            next_page: page
                .next_link
                .map(|link| PageToken(format!("{CATALOGUE_TOKEN} {link}"))),
        })
    }

    /// The `$filter` of an order download.
    fn order_filter(&self, query: &OrderQuery) -> String {
        let mut clauses = vec![self.profile_clause()];
        if let Some(since) = query.created_since {
            clauses.push(format!("CreatedDateUtc ge {}", wire::odata_datetime(since)));
        }
        if let Some(site) = &self.config.site_name {
            clauses.push(format!("SiteName eq {}", wire::odata_string(site)));
        }
        if let Some(states) = convert::status_filter(&query.states) {
            clauses.push(format!("({states})"));
        }
        clauses.join(" and ")
    }

    fn label_url(&self, product_id: u64, label: &str) -> Result<String, ChannelError> {
        // The batch-safe entity URI (the `Products(ID)/Labels('x')` alias is refused in $batch).
        let name = wire::encode(&label.replace('\'', "''"));
        self.client.url(
            &format!("ProductLabels(ProductID={product_id},Name='{name}')"),
            &[],
        )
    }

    /// Reads an order whose items the page cut, on its own.
    async fn read_whole_order(
        &self,
        order: &wire::Order,
        options: decode::OrderOptions,
        operation: &'static str,
    ) -> Result<marketsync_core::Order, RejectedOrder> {
        let reject = |error: ChannelError| RejectedOrder {
            channel_order_id: ChannelOrderId::new(order.id.to_string()).ok(),
            error: self.err(error, operation),
        };
        // More than 20 items: the list cut them; the order read on its own has them all.
        let url = self
            .client
            .url(
                &format!("Orders({})", order.id),
                &[("$expand", "Items,Fulfillments".to_owned())],
            )
            .map_err(reject)?;
        let response = self
            .client
            .get_response(&url, operation)
            .await
            .map_err(reject)?;
        decode::order(response.bytes(), options).map_err(|e| reject(with_status(e, &response)))
    }

    /// One request of [`fetch_orders_by_id`](Channel::fetch_orders_by_id): the orders of
    /// `ids` (numbers), every page of the answer, into `out`.
    async fn orders_by_id(
        &self,
        ids: &[(u64, ChannelOrderId)],
        options: decode::OrderOptions,
        out: &mut OrderPage,
    ) -> Result<(), ChannelError> {
        let op = "fetch_orders_by_id";
        let mut clauses = vec![self.profile_clause()];
        if let Some(site) = &self.config.site_name {
            clauses.push(format!("SiteName eq {}", wire::odata_string(site)));
        }
        let any: Vec<String> = ids.iter().map(|(n, _)| format!("ID eq {n}")).collect();
        clauses.push(format!("({})", any.join(" or ")));
        let mut url = self
            .client
            .url(
                "Orders",
                &[
                    ("$filter", clauses.join(" and ")),
                    ("$expand", "Items,Fulfillments".to_owned()),
                ],
            )
            .map_err(|e| self.err(e, op))?;
        let mut answered: HashSet<String> = HashSet::new();
        let mut anonymous = false;
        loop {
            let response = self
                .client
                .get_response(&url, op)
                .await
                .map_err(|e| self.err(e, op))?;
            let (entries, next_link) = decode::order_entries(response.bytes(), options)
                .map_err(|e| self.err(with_status(e, &response), op))?;
            for entry in entries {
                let result = match entry {
                    decode::Entry::Read(o) => Ok(*o),
                    decode::Entry::Rejected(r) => Err(r),
                    decode::Entry::ItemsCut(o) => {
                        match self.read_whole_order(&o, options, op).await {
                            Err(r)
                                if r.error.kind() == ErrorKind::Auth || r.error.is_temporary() =>
                            {
                                return Err(r.error);
                            }
                            other => other,
                        }
                    }
                };
                match result {
                    Ok(o) => {
                        answered.insert(o.channel_order_id.as_str().to_owned());
                        out.orders.push(o);
                    }
                    Err(r) => match r.channel_order_id {
                        Some(id) => {
                            answered.insert(id.as_str().to_owned());
                            out.rejected.push(RejectedOrder {
                                channel_order_id: Some(id),
                                error: self.err(r.error, op),
                            });
                        }
                        None => anonymous = true,
                    },
                }
            }
            match next_link {
                Some(next) => url = next,
                None => break,
            }
        }
        if anonymous {
            for (n, id) in ids {
                if !answered.contains(&n.to_string()) {
                    out.rejected.push(RejectedOrder {
                        channel_order_id: Some(id.clone()),
                        error: self.err(
                            ChannelError::new(
                                ErrorKind::Channel,
                                "ChannelAdvisor sent an order of this read that could not be read, without a readable ID, and this order was not among those read",
                            ),
                            op,
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The carrier and class a shipment is sent with: the given ones (blank counts as none),
    /// and for one that is missing the order's requested one (one read of the order, only
    /// then). `Invalid` (field `carrier` or `method`) when one is still missing.
    async fn shipping_service(
        &self,
        order_id: u64,
        carrier: Option<&str>,
        class: Option<&str>,
        op: &'static str,
    ) -> Result<(String, String), ChannelError> {
        let given = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let (mut carrier, mut class) = (given(carrier), given(class));
        if carrier.is_none() || class.is_none() {
            let url = self
                .client
                .url(
                    &format!("Orders({order_id})"),
                    &[(
                        "$select",
                        "ID,RequestedShippingCarrier,RequestedShippingClass".to_owned(),
                    )],
                )
                .map_err(|e| self.err(e, op))?;
            let requested: wire::RequestedShipping = self
                .client
                .get(&url, op)
                .await
                .map_err(|e| self.err(e, op))?;
            carrier = carrier.or_else(|| given(requested.carrier.as_deref()));
            class = class.or_else(|| given(requested.class.as_deref()));
        }
        match (carrier, class) {
            (Some(carrier), Some(class)) => Ok((carrier, class)),
            (None, _) => Err(self.err(
                ChannelError::invalid(format!(
                    "ChannelAdvisor needs a shipping carrier to ship order {order_id}, and neither the shipment nor the order names one: give the shipment's carrier"
                ))
                .with_field("carrier"),
                op,
            )),
            (_, None) => Err(self.err(
                ChannelError::invalid(format!(
                    "ChannelAdvisor needs a shipping class to ship order {order_id}, and neither the shipment nor the order names one: give the shipment's method (map the order's shipping text to a service)"
                ))
                .with_field("method"),
                op,
            )),
        }
    }

    /// The `SellerFulfillmentID`s and `SellerAdjustmentID`s the order already carries:
    /// `GET /v1/Orders(ID)?$select=ID&$expand=Fulfillments,Adjustments`.
    ///
    /// ChannelAdvisor keeps the ids it was sent but does not refuse a second request with the
    /// same one (unconfirmed: nothing documents it doing so, so the safe reading is that it
    /// would ship or adjust twice). A resend — an earlier attempt may have been applied without
    /// its outcome being recorded — therefore reads them first and skips what is there.
    async fn applied_keys(
        &self,
        order_id: u64,
        operation: &'static str,
    ) -> Result<BTreeSet<String>, ChannelError> {
        let url = self
            .client
            .url(
                &format!("Orders({order_id})"),
                &[
                    ("$select", "ID".to_owned()),
                    ("$expand", "Fulfillments,Adjustments".to_owned()),
                ],
            )
            .map_err(|e| self.err(e, operation))?;
        let order: wire::AppliedKeys = self
            .client
            .get(&url, operation)
            .await
            .map_err(|e| self.err(e, operation))?;
        Ok(order
            .fulfillments
            .into_iter()
            .filter_map(|f| f.seller_fulfillment_id)
            .chain(
                order
                    .adjustments
                    .into_iter()
                    .filter_map(|a| a.seller_adjustment_id),
            )
            .collect())
    }

    async fn adjust(
        &self,
        order_id: &ChannelOrderId,
        order_body: Option<wire::OrderAdjust>,
        item_bodies: Vec<(u64, wire::ItemAdjust)>,
        operation: &'static str,
        resend: bool,
    ) -> Result<(), ChannelError> {
        let oid = numeric_id("order", order_id.as_str()).map_err(|e| self.err(e, operation))?;
        let applied = if resend {
            self.applied_keys(oid, operation).await?
        } else {
            BTreeSet::new()
        };
        if let Some(body) = order_body.filter(|b| !applied.contains(&b.seller_adjustment_id)) {
            self.client
                .post(
                    &format!("Orders({oid})/Adjust"),
                    Some(&body),
                    operation,
                    false,
                )
                .await
                .map_err(|e| self.err(e, operation))?;
        }
        for (item, body) in item_bodies
            .into_iter()
            .filter(|(_, b)| !applied.contains(&b.seller_adjustment_id))
        {
            self.client
                .post(
                    &format!("OrderItems({item})/Adjust"),
                    Some(&body),
                    operation,
                    false,
                )
                .await
                .map_err(|e| self.err(e, operation))?;
        }
        Ok(())
    }
}

/// The first word of a listing page token that continues a read of the whole catalogue.
const CATALOGUE_TOKEN: &str = "all";

/// Where a listing download stands.
#[derive(Debug, PartialEq, Eq)]
enum ListingToken {
    /// Nothing read yet.
    Start,
    /// The chunk of SKUs being read, and the next link inside it.
    Chunk(usize, Option<String>),
    /// The next link of a read of the whole catalogue.
    Catalogue(String),
}

/// A listing page token: `<chunk>`, `<chunk> <next link>` or `all <next link>`.
fn parse_listing_token(token: Option<&PageToken>) -> ListingToken {
    match token {
        None => ListingToken::Start,
        Some(t) => match t.0.split_once(' ') {
            Some((CATALOGUE_TOKEN, link)) => ListingToken::Catalogue(link.to_owned()),
            Some((i, link)) => ListingToken::Chunk(i.parse().unwrap_or(0), Some(link.to_owned())),
            None => ListingToken::Chunk(t.0.parse().unwrap_or(0), None),
        },
    }
}

fn outcome(
    listing_id: &ChannelListingId,
    sku: Option<marketsync_core::Sku>,
    result: Result<(), ChannelError>,
) -> ListingOutcome {
    ListingOutcome {
        listing_id: Some(listing_id.clone()),
        sku,
        result: result.map(|()| listing_id.clone()),
    }
}

#[async_trait]
impl Channel for ChannelAdvisorChannel {
    fn kind(&self) -> ChannelKind {
        self.config.kind
    }

    fn capabilities(&self) -> Capabilities {
        Self::capabilities_for(&self.config)
    }

    /// `GET /v1/Profiles`: the token must reach the configured profile.
    async fn use_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        match (self.config.kind(), credentials) {
            // OfferUp's seller id and secret are entered in ChannelAdvisor's own settings, not
            // sent by this adapter, which acts with its ChannelAdvisor tokens: nothing changes
            // here (the engine tracks their rotation and verification).
            (ChannelKind::OfferUp, Credentials::SellerSecret(_)) => Ok(()),
            _ => self.set_credentials(credentials),
        }
    }

    async fn verify(&self) -> Result<AccountInfo, ChannelError> {
        let op = "verify";
        let url = self
            .client
            .url("Profiles", &[])
            .map_err(|e| self.err(e, op))?;
        let profiles: Vec<wire::Profile> = self
            .client
            .get_all(&url, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let profile = profiles
            .into_iter()
            .find(|p| p.id == self.config.profile_id)
            .ok_or_else(|| {
                self.err(
                    ChannelError::auth(
                        BrokenReason::AccountNotUsable,
                        format!(
                            "the ChannelAdvisor token does not give access to profile {}",
                            self.config.profile_id
                        ),
                    ),
                    op,
                )
            })?;
        let currency = profile
            .currency_code
            .as_deref()
            .and_then(|c| Currency::new(c).ok());
        *self
            .profile_currency
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = currency;
        Ok(AccountInfo {
            account_id: profile.id.to_string(),
            name: profile.company_name.or(profile.account_name),
            currency,
            credentials_expire_at: None,
        })
    }

    /// `GET /v1/Products` of the profile, by SKU chunks or (without SKUs) every product on the
    /// label; `@odata.nextLink` followed exactly. `page_size` is not sent: `$top` would cut the
    /// result instead of paging it. With [`CATALOGUE_MIN_CHUNKS`] chunks or more, the whole
    /// catalogue is read instead when that takes fewer requests (see there).
    async fn list_listings(&self, query: &ListingQuery) -> Result<ListingPage, ChannelError> {
        let op = "list_listings";
        let skus: Vec<&str> = query.skus.iter().map(|s| s.as_str()).collect();
        let chunks = wire::sku_chunks(&skus);
        let (index, link) = match parse_listing_token(query.page.as_ref()) {
            ListingToken::Catalogue(link) => {
                return self.catalogue_page(&link, query, chunks.len(), false).await;
            }
            ListingToken::Start
                if self.catalogue_may_be_cheaper(query.include_ended, chunks.len()) =>
            {
                let url = self
                    .catalogue_url(query.include_ended)
                    .map_err(|e| self.err(e, op))?;
                return self.catalogue_page(&url, query, chunks.len(), true).await;
            }
            ListingToken::Start => (0, None),
            ListingToken::Chunk(index, link) => (index, link),
        };
        let url = match link {
            Some(link) => link,
            None if chunks.is_empty() => self
                .product_url(None, query.include_ended)
                .map_err(|e| self.err(e, op))?,
            None => match chunks.get(index) {
                Some(c) => self.product_url(Some(c), query.include_ended),
                None => return Ok(ListingPage::default()),
            }
            .map_err(|e| self.err(e, op))?,
        };
        let response = self
            .client
            .get_response(&url, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let page = decode::listings_page(
            response.bytes(),
            self.config.label.as_deref(),
            self.config.price_field,
            self.price_currency(),
        )
        .map_err(|e| self.err(with_status(e, &response), op))?;
        let listings = page
            .listings
            .into_iter()
            .filter(|l| query.include_ended || l.state != ChannelListingState::Ended)
            .collect();
        let next_page = match page.next_link {
            Some(link) => Some(PageToken(format!("{index} {link}"))),
            None if index + 1 < chunks.len() => Some(PageToken((index + 1).to_string())),
            None => None,
        };
        Ok(ListingPage {
            listings,
            next_page,
        })
    }

    /// One `$batch` per call: `POST Products(ID)/UpdateQuantity` for a quantity and
    /// `PATCH Products(ID)` with the price field for a price. Each listing's outcome is the
    /// first failure among its requests (a 404 is `NotFound`: the product is gone).
    async fn update_listings(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "update_listings";
        let mut requests: Vec<BatchRequest> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        let mut results: Vec<Result<(), ChannelError>> = Vec::with_capacity(updates.len());
        for (i, u) in updates.iter().enumerate() {
            let prepared = (|| {
                let id = numeric_id("product", u.listing_id.as_str())?;
                let mut mine = Vec::new();
                if let Some(quantity) = u.quantity {
                    let dc = self.config.distribution_center_id.ok_or_else(|| {
                        ChannelError::invalid(
                            "no distribution centre is configured: quantities cannot be sent",
                        )
                        .with_field("distribution_center_id")
                    })?;
                    let body = wire::UpdateQuantity {
                        value: wire::UpdateQuantityValue {
                            update_type: self.config.quantity_update_type.as_str(),
                            updates: vec![wire::DcQuantity {
                                distribution_center_id: dc,
                                quantity,
                            }],
                        },
                    };
                    mine.push(BatchRequest {
                        method: "POST",
                        url: self
                            .client
                            .url(&format!("Products({id})/UpdateQuantity"), &[])?,
                        body: Some(serde_json::to_string(&body).unwrap_or_default()),
                    });
                }
                if let Some(price) = u.price {
                    let mut body = serde_json::Map::new();
                    body.insert(
                        self.config.price_field.as_str().to_owned(),
                        wire::number(price.amount()),
                    );
                    mine.push(BatchRequest {
                        method: "PATCH",
                        url: self.client.url(&format!("Products({id})"), &[])?,
                        body: Some(Value::Object(body).to_string()),
                    });
                }
                Ok::<_, ChannelError>(mine)
            })();
            match prepared {
                Ok(mine) => {
                    owner.extend(std::iter::repeat_n(i, mine.len()));
                    requests.extend(mine);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(self.err(e, op))),
            }
        }
        if !requests.is_empty() {
            let answers = self
                .client
                .batch(&requests, op)
                .await
                .map_err(|e| self.err(e, op))?;
            for (i, answer) in owner.into_iter().zip(answers) {
                if let (Ok(()), Err(e)) = (&results[i], answer) {
                    results[i] = Err(self.err(e, op));
                }
            }
        }
        Ok(updates
            .iter()
            .zip(results)
            .map(|(u, r)| outcome(&u.listing_id, Some(u.sku.clone()), r))
            .collect())
    }

    /// Unsupported: see [`PUBLISH_UNSUPPORTED`].
    async fn publish_listings(
        &self,
        _listings: &[NewListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        Err(self.err(
            ChannelError::unsupported(PUBLISH_UNSUPPORTED),
            "publish_listings",
        ))
    }

    /// Removes the integration's label from each product (`DELETE
    /// ProductLabels(ProductID=..,Name='..')` in one `$batch`), so ChannelAdvisor stops sending
    /// it to the marketplace. A 404 means the label (or the product) is already gone: done.
    async fn end_listings(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "end_listings";
        let Some(label) = self.config.label.clone() else {
            return Err(self.err(
                ChannelError::unsupported(
                    "no ChannelAdvisor label is configured, so listings cannot be ended (reconciled)",
                ),
                op,
            ));
        };
        let mut requests = Vec::new();
        let mut owner = Vec::new();
        let mut results: Vec<Result<(), ChannelError>> = Vec::with_capacity(listings.len());
        for (i, l) in listings.iter().enumerate() {
            match numeric_id("product", l.listing_id.as_str())
                .and_then(|id| self.label_url(id, &label))
            {
                Ok(url) => {
                    requests.push(BatchRequest {
                        method: "DELETE",
                        url,
                        body: None,
                    });
                    owner.push(i);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(self.err(e, op))),
            }
        }
        if !requests.is_empty() {
            let answers = self
                .client
                .batch(&requests, op)
                .await
                .map_err(|e| self.err(e, op))?;
            for (i, answer) in owner.into_iter().zip(answers) {
                results[i] = match answer {
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                    other => other.map_err(|e| self.err(e, op)),
                };
            }
        }
        Ok(listings
            .iter()
            .zip(results)
            .map(|(l, r)| outcome(&l.listing_id, l.sku.clone(), r))
            .collect())
    }

    /// `GET /v1/Orders?exported=false&$filter=..&$expand=Items,Fulfillments`, following
    /// `@odata.nextLink`. No cursor: the export flag, set by
    /// [`acknowledge_order`](Channel::acknowledge_order) after the engine recorded an order, is
    /// the feed position.
    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError> {
        let op = "fetch_orders";
        let url = match &query.page {
            Some(p) => p.0.clone(),
            None => self
                .client
                .url(
                    "Orders",
                    &[
                        ("exported", "false".to_owned()),
                        ("$filter", self.order_filter(query)),
                        ("$expand", "Items,Fulfillments".to_owned()),
                    ],
                )
                .map_err(|e| self.err(e, op))?,
        };
        let response = self
            .client
            .get_response(&url, op)
            .await
            .map_err(|e| self.err(e, op))?;
        let options = decode::OrderOptions {
            default_currency: query.default_currency,
            shipping_method_text: self.config.shipping_method_text,
        };
        let (entries, next_link) = decode::order_entries(response.bytes(), options)
            .map_err(|e| self.err(with_status(e, &response), op))?;
        let mut out = OrderPage {
            next_page: next_link.map(PageToken),
            ..OrderPage::default()
        };
        for entry in entries {
            match entry {
                decode::Entry::Read(o) => out.orders.push(*o),
                decode::Entry::Rejected(r) => out.rejected.push(RejectedOrder {
                    channel_order_id: r.channel_order_id,
                    error: self.err(r.error, op),
                }),
                decode::Entry::ItemsCut(o) => match self.read_whole_order(&o, options, op).await {
                    Ok(o) => out.orders.push(o),
                    // A temporary failure fails the page rather than recording the order as
                    // unreadable: it is read again on the next attempt.
                    Err(r) if r.error.kind() == ErrorKind::Auth || r.error.is_temporary() => {
                        return Err(r.error);
                    }
                    Err(r) => out.rejected.push(r),
                },
            }
        }
        Ok(out)
    }

    /// `GET /v1/Orders?$filter=ProfileID eq P [and SiteName eq 'S'] and (ID eq 1 or ID eq 2 ..)
    /// &$expand=Items,Fulfillments`, [`ORDERS_BY_ID_PER_REQUEST`] ids a request, following
    /// `@odata.nextLink`; no `exported` parameter, so exported orders are read too. An order
    /// ChannelAdvisor does not know (or of another profile or site) is simply not in the
    /// answer. An order that cannot be read is rejected with its id (when its own `ID` cannot
    /// be read either, every asked order missing from the answer is rejected). An id that is
    /// not a number cannot be a ChannelAdvisor order and is not sent. A failed request fails
    /// the call.
    async fn fetch_orders_by_id(
        &self,
        ids: &[ChannelOrderId],
        default_currency: Currency,
    ) -> Result<OrderPage, ChannelError> {
        let mut asked: Vec<(u64, ChannelOrderId)> = Vec::new();
        for id in ids {
            match numeric_id("order", id.as_str()) {
                Ok(n) if !asked.iter().any(|(m, _)| *m == n) => asked.push((n, id.clone())),
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(order = %id.as_str(), "not a ChannelAdvisor order id; left out");
                }
            }
        }
        let options = decode::OrderOptions {
            default_currency,
            shipping_method_text: self.config.shipping_method_text,
        };
        let mut out = OrderPage::default();
        for chunk in asked.chunks(ORDERS_BY_ID_PER_REQUEST) {
            self.orders_by_id(chunk, options, &mut out).await?;
        }
        Ok(out)
    }

    /// `POST /v1/Orders(ID)/Export` (204). Marking an order exported twice is harmless, so the
    /// call is retried on temporary failures.
    async fn acknowledge_order(&self, order: &ChannelOrderId) -> Result<(), ChannelError> {
        let op = "acknowledge_order";
        let id = numeric_id("order", order.as_str()).map_err(|e| self.err(e, op))?;
        self.client
            .post::<Value>(&format!("Orders({id})/Export"), None, op, true)
            .await
            .map_err(|e| self.err(e, op))
    }

    /// `POST /v1/Orders(ID)/Ship` with `DeliveryStatus: Complete` and the idempotency key as
    /// `SellerFulfillmentID`; `Items` only for a partial shipment.
    ///
    /// `ShippingCarrier` and `ShippingClass` are always sent: ChannelAdvisor needs both to pass
    /// the shipment on (they must be a carrier/class pair of the account). They are the
    /// shipment's `carrier` and `method`; one the host leaves out (no shipping service mapped)
    /// is taken from the order itself — `RequestedShippingCarrier` / `RequestedShippingClass`,
    /// what the buyer chose, read with
    /// `GET /v1/Orders(ID)?$select=ID,RequestedShippingCarrier,RequestedShippingClass` (see
    /// `shipping_service`). Where the order has none either, nothing
    /// is sent: an `Invalid` error on the field `method` (or `carrier`) says which is missing.
    async fn ship(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        let op = "ship";
        let s = &request.shipment;
        let id = numeric_id("order", request.order_id.as_str()).map_err(|e| self.err(e, op))?;
        let mut items = Vec::with_capacity(s.lines.len());
        for l in &s.lines {
            items.push(wire::ShipItem {
                order_item_id: numeric_id("order item", &l.line_id).map_err(|e| self.err(e, op))?,
                quantity: l.quantity,
            });
        }
        if request.resend
            && self
                .applied_keys(id, op)
                .await?
                .contains(request.idempotency_key.as_str())
        {
            // The earlier attempt was applied: the fulfilment with this key is there.
            return Ok(());
        }
        let (carrier, class) = self
            .shipping_service(id, s.carrier.as_deref(), s.method.as_deref(), op)
            .await?;
        let body = wire::Ship {
            value: wire::ShipValue {
                shipped_date_utc: wire::odata_datetime(s.shipped_at),
                tracking_number: s.tracking_number.clone(),
                shipping_carrier: Some(carrier),
                shipping_class: Some(class),
                distribution_center_id: self.config.distribution_center_id,
                delivery_status: "Complete",
                seller_fulfillment_id: request.idempotency_key.to_string(),
                items,
            },
        };
        self.client
            .post(&format!("Orders({id})/Ship"), Some(&body), op, false)
            .await
            .map_err(|e| self.err(e, op))
    }

    /// `POST /v1/Orders(ID)/Adjust` (whole order, `AdjustmentAmount` when an amount is given)
    /// or `POST /v1/OrderItems(ID)/Adjust` per line (`Quantity` and/or `ItemAdjustment`), with
    /// `RefundOnly: true`, the reason and the idempotency key as `SellerAdjustmentID`
    /// (`<key>-<line id>` per line).
    async fn refund(&self, request: &RefundRequest) -> Result<(), ChannelError> {
        let op = "refund";
        let r = &request.refund;
        let reason = convert::adjustment_reason(r.reason);
        let key = request.idempotency_key.as_str();
        if r.lines.is_empty() {
            let body = wire::OrderAdjust {
                reason,
                seller_adjustment_id: key.to_owned(),
                adjustment_amount: r.amount.map(|m| wire::number(m.amount())),
                refund_only: Some(true),
                restock: Some(r.restock),
            };
            return self
                .adjust(
                    &request.order_id,
                    Some(body),
                    Vec::new(),
                    op,
                    request.resend,
                )
                .await;
        }
        let mut items = Vec::with_capacity(r.lines.len());
        for l in &r.lines {
            let item = numeric_id("order item", &l.line_id).map_err(|e| self.err(e, op))?;
            items.push((
                item,
                wire::ItemAdjust {
                    reason,
                    seller_adjustment_id: format!("{key}-{}", l.line_id),
                    quantity: l.quantity,
                    item_adjustment: l.amount.map(|m| wire::number(m.amount())),
                    refund_only: Some(true),
                    restock: Some(r.restock),
                },
            ));
        }
        self.adjust(&request.order_id, None, items, op, request.resend)
            .await
    }

    /// `POST /v1/Orders(ID)/Adjust` (whole order) or `POST /v1/OrderItems(ID)/Adjust` per line
    /// with `Quantity`, the reason and the idempotency key as `SellerAdjustmentID`.
    async fn cancel(&self, request: &CancellationRequest) -> Result<(), ChannelError> {
        let op = "cancel";
        let c = &request.cancellation;
        let reason = convert::adjustment_reason(c.reason);
        let key = request.idempotency_key.as_str();
        if c.lines.is_empty() {
            let body = wire::OrderAdjust {
                reason,
                seller_adjustment_id: key.to_owned(),
                adjustment_amount: None,
                refund_only: None,
                restock: None,
            };
            return self
                .adjust(
                    &request.order_id,
                    Some(body),
                    Vec::new(),
                    op,
                    request.resend,
                )
                .await;
        }
        let mut items = Vec::with_capacity(c.lines.len());
        for l in &c.lines {
            let item = numeric_id("order item", &l.line_id).map_err(|e| self.err(e, op))?;
            items.push((
                item,
                wire::ItemAdjust {
                    reason,
                    seller_adjustment_id: format!("{key}-{}", l.line_id),
                    quantity: Some(l.quantity),
                    item_adjustment: None,
                    refund_only: None,
                    restock: None,
                },
            ));
        }
        self.adjust(&request.order_id, None, items, op, request.resend)
            .await
    }

    /// The authorization-code flow of a new connection: ChannelAdvisor's login page
    /// (`/oauth2/authorize`) with the configured redirect URI, the scopes, a fresh `state` and
    /// a PKCE challenge. The code is valid for 5 minutes.
    async fn begin_authorization(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, ChannelError> {
        let op = "begin_authorization";
        if self.config.kind != ChannelKind::ChannelAdvisor {
            return Err(self.err(
                ChannelError::unsupported(
                    "OfferUp is connected inside ChannelAdvisor with the OfferUp Seller ID and Seller Secret; authorize the ChannelAdvisor connection instead",
                ),
                op,
            ));
        }
        let Some(configured) = &self.config.redirect_uri else {
            return Err(self.err(
                ChannelError::invalid(
                    "no redirect URI is configured for the ChannelAdvisor application",
                )
                .with_field("redirect_uri"),
                op,
            ));
        };
        if request
            .redirect_uri
            .as_ref()
            .is_some_and(|r| r != configured)
        {
            return Err(self.err(
                ChannelError::invalid(
                    "the redirect URI must be the one configured for the ChannelAdvisor application",
                )
                .with_field("redirect_uri"),
                op,
            ));
        }
        let scopes: Vec<&str> = self.config.scopes.split_whitespace().collect();
        let start = self
            .client
            .oauth
            .authorize(&scopes)
            .map_err(|e| self.err(e, op))?;
        let now = Utc::now();
        Ok(AuthorizationStart {
            url: start.url,
            user_code: None,
            pending: PendingAuthorization {
                state: start.state,
                secret: start.pkce_verifier,
                started_at: now,
                expires_at: Some(now + TimeDelta::minutes(5)),
                poll_interval: None,
            },
        })
    }

    /// Exchanges the code (`grant_type=authorization_code`) for an access and a refresh token,
    /// installs them in this adapter, and returns them as [`Credentials::OAuth`] for the
    /// configured profile.
    async fn complete_authorization(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        let op = "complete_authorization";
        if let Some(error) = callback.param("error") {
            let message = callback
                .param("error_description")
                .unwrap_or(error)
                .to_owned();
            return Err(self.err(
                ChannelError::auth(
                    BrokenReason::LoginRequired,
                    "the seller did not grant access at ChannelAdvisor",
                )
                .with_channel_message(message),
                op,
            ));
        }
        let code = callback.param("code").ok_or_else(|| {
            self.err(
                ChannelError::invalid("ChannelAdvisor sent no authorization code"),
                op,
            )
        })?;
        let tokens = self
            .client
            .oauth
            .exchange_code(
                &SecretString::from(code),
                callback.param("state").unwrap_or(""),
                &pending.state,
                &pending.secret,
            )
            .await
            .map_err(|e| self.err(e, op))?;
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return Err(self.err(
                ChannelError::auth(
                    BrokenReason::LoginRequired,
                    "ChannelAdvisor returned no refresh token",
                ),
                op,
            ));
        };
        self.client.tokens.set_tokens(tokens.clone());
        Ok(AuthorizationOutcome::Authorized(Credentials::OAuth(
            OAuthTokens {
                access_token: Some(tokens.access_token),
                access_expires_at: tokens.expires_at,
                refresh_token,
                refresh_expires_at: None,
                profile_id: Some(self.config.profile_id.to_string()),
            },
        )))
    }
}

/// OfferUp's credential as the seller has it: the OfferUp Seller ID and Seller Secret ("Auth
/// token") shown in OfferUp Pro, which the seller pastes into ChannelAdvisor (Sell > By Channel >
/// OfferUp Marketplace > Settings). This adapter never sends it anywhere: ChannelAdvisor talks to
/// OfferUp with it. Store it on the OfferUp integration so the host can show which seller is
/// connected; after OfferUp regenerates it (the old one stops working at once), store the new
/// one with `Engine::rotate_credentials`: the integration stays Unverified until
/// `Engine::verify` succeeds again.
pub fn offerup_credentials(
    seller_id: impl Into<String>,
    seller_secret: SecretString,
) -> Credentials {
    Credentials::SellerSecret(marketsync_core::credentials::SellerSecret {
        seller_id: seller_id.into(),
        seller_secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use client::copy;

    #[test]
    fn listing_tokens() {
        assert_eq!(parse_listing_token(None), ListingToken::Start);
        assert_eq!(
            parse_listing_token(Some(&PageToken("2 https://x/v1/Products?$skip=100".into()))),
            ListingToken::Chunk(2, Some("https://x/v1/Products?$skip=100".into()))
        );
        assert_eq!(
            parse_listing_token(Some(&PageToken("3".into()))),
            ListingToken::Chunk(3, None)
        );
        assert_eq!(
            parse_listing_token(Some(&PageToken(
                "all https://x/v1/Products?$count=true&$skip=100".into()
            ))),
            ListingToken::Catalogue("https://x/v1/Products?$count=true&$skip=100".into())
        );
    }

    #[test]
    fn errors_carry_copies() {
        let e = ChannelError::not_found("x").with_http_status(404);
        assert_eq!(copy(&e).http_status(), Some(404));
    }
}
