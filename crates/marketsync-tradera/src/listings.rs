//! Listings: one read of every seller item, batched updates (absolute quantities, whole-SEK
//! prices), shop item creation and ending, and the results of Tradera's queued requests.

use std::collections::{BTreeMap, HashSet};

use marketsync_core::{
    ChannelError, ChannelListingId, EndListing, ErrorKind, ListingOutcome, ListingPage,
    ListingQuery, ListingUpdate, NewListing,
};
use marketsync_http::adapter::with_status;
use marketsync_http::{Method, copy_error};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::channel::TraderaChannel;
use crate::convert::{self, numeric_id};
use crate::{decode, error, wire};

/// The result code the adapter reads as success in `GET /v4/listings/request-results`.
/// Tradera's codes are flags (1 to 256) whose meanings are unconfirmed; 1 is taken as success.
pub const RESULT_OK: i64 = 1;

/// The outcome of one queued request, as `GET /v4/listings/request-results` tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedResult {
    /// Tradera's request id.
    pub request_id: i64,
    /// Tradera's result code (a flag, 1 to 256; meanings unconfirmed).
    pub result_code: i64,
    /// Tradera's message, when it sent one.
    pub message: Option<String>,
}

impl QueuedResult {
    /// Whether the request failed: a code other than [`RESULT_OK`] that comes with a message.
    /// A result without a message is not taken as a failure (the meanings of the codes are
    /// unconfirmed, and a wrong failure would hide a listing that exists).
    pub fn is_failure(&self) -> bool {
        self.result_code != RESULT_OK && self.message.as_deref().is_some_and(|m| !m.is_empty())
    }
}

/// Errors that concern the whole account, not one listing: returned for the whole call.
fn whole_call(e: &ChannelError) -> bool {
    matches!(e.kind(), ErrorKind::Auth | ErrorKind::RateLimited)
}

/// Whether an error answered to ending a listing means there is nothing left to end, so the
/// listing counts as ended: a 404 (`NotFound`). Tradera's v4 spec says of
/// `GET /v4/listings/items/{itemId}` that it "returns 404 if the item does not exist or does
/// not belong to the seller", and its `DELETE` answers the same way; either way the item is no
/// longer on sale in this seller's account, which is what ending wanted. A queued removal whose
/// result says the item is missing is read the same way (see `refused`). Every other error (400,
/// an answer of `false`, a 5xx) is a failure of that listing.
fn gone_already(e: &ChannelError) -> bool {
    e.kind() == ErrorKind::NotFound
}

/// A failure of a whole batch call, for each of its listings. A 404 answered to the batch as a
/// whole does not say that any one item is missing, so it is not `NotFound` for each (which
/// would mark every link of the batch broken) but a `Channel` error.
fn batch_failure(e: &ChannelError) -> ChannelError {
    if e.kind() != ErrorKind::NotFound {
        return copy_error(e);
    }
    let mut out = ChannelError::new(
        ErrorKind::Channel,
        format!(
            "Tradera answered the batch call with not found: {}",
            e.message()
        ),
    );
    if let Some(s) = e.http_status() {
        out = out.with_http_status(s);
    }
    if let Some(m) = e.channel_message() {
        out = out.with_channel_message(m);
    }
    out
}

/// Tradera's refusal of one listing: `NotFound` when its message says the item does not exist
/// ([`error::says_item_missing`]: the engine marks the link broken), else `Invalid`.
fn refused(message: Option<&str>, field: &str) -> ChannelError {
    let mut e = if message.is_some_and(error::says_item_missing) {
        ChannelError::not_found("Tradera has no such item (removed, or never the seller's)")
    } else {
        ChannelError::invalid("Tradera refused the change for this listing")
    }
    .with_field(field);
    if let Some(m) = message.filter(|m| !m.trim().is_empty()) {
        e = e.with_channel_message(m.trim());
    }
    e
}

/// The outcomes of an update's listings while its batch calls are answered (`ids[i]`: the item
/// id of listing `i`, when it could be sent).
struct Batch<'a> {
    results: &'a mut [Result<(), ChannelError>],
    ids: &'a [Option<i64>],
}

impl Batch<'_> {
    /// Fails every listing of item `id` that has not failed yet.
    fn fail(&mut self, id: i64, e: &ChannelError) {
        for (r, i) in self.results.iter_mut().zip(self.ids) {
            if *i == Some(id) && r.is_ok() {
                *r = Err(copy_error(e));
            }
        }
    }
}

impl TraderaChannel {
    /// `GET /v4/listings/request-results?requestIds=a&requestIds=b..`: the outcome of queued
    /// requests, one call for all of them.
    pub async fn request_results(
        &self,
        request_ids: &[i64],
    ) -> Result<Vec<QueuedResult>, ChannelError> {
        let op = "request_results";
        if request_ids.is_empty() {
            return Ok(Vec::new());
        }
        let q: Vec<(&str, String)> = request_ids
            .iter()
            .map(|id| ("requestIds", id.to_string()))
            .collect();
        let results: Vec<wire::RequestResult> = self
            .client
            .get("v4/listings/request-results", &q, op)
            .await
            .map_err(|e| self.err(e, op))?;
        Ok(results
            .into_iter()
            .map(|r| QueuedResult {
                request_id: r.request_id,
                result_code: r.result_code,
                message: r.message,
            })
            .collect())
    }

    /// Ends an auction or fixed-price item: `DELETE /v4/listings/items/{id}`, answered with the
    /// spec's `boolean` (`false`: Tradera did not end it, a failure of this listing).
    async fn end_item(&self, id: i64, op: &'static str) -> Result<(), ChannelError> {
        let ended = self
            .client
            .call(Method::DELETE, &format!("v4/listings/items/{id}"), true, op)
            .await?
            .json::<bool>()?;
        if ended {
            Ok(())
        } else {
            Err(ChannelError::new(
                ErrorKind::Channel,
                format!("Tradera did not end item {id}"),
            ))
        }
    }

    /// Ends an item whose shop-item removal answered 404 and whose type no listing read told:
    /// reads it (`GET /v4/listings/items/{id}`) and ends an auction or fixed-price item with
    /// [`end_item`](Self::end_item). A 404 to the read leaves the 404 (gone already); a shop
    /// item that Tradera does not find for removal is gone too.
    async fn end_unknown_item(&self, id: i64, op: &'static str) -> Result<(), ChannelError> {
        let item_type = self
            .client
            .get_response(&format!("v4/listings/items/{id}"), &[], op)
            .await?
            .json::<Value>()?
            .get("itemType")
            .and_then(Value::as_i64);
        match item_type.and_then(|t| i32::try_from(t).ok()) {
            Some(t) if convert::NON_SHOP_ITEM_TYPES.contains(&t) => {
                self.non_shop_items
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id);
                self.end_item(id, op).await
            }
            _ => Err(ChannelError::not_found(format!(
                "Tradera found no shop item {id} to remove"
            ))),
        }
    }

    /// Polls the results of queued requests once (when configured) and returns the failures by
    /// request id. A failed poll is logged and ignored unless it concerns the whole account:
    /// the requests were accepted, and the next listing read shows what Tradera made of them.
    async fn queued_failures(
        &self,
        request_ids: &[i64],
    ) -> Result<BTreeMap<i64, QueuedResult>, ChannelError> {
        if !self.config.poll_queued || request_ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        match self.request_results(request_ids).await {
            Ok(results) => Ok(results
                .into_iter()
                .filter(QueuedResult::is_failure)
                .map(|r| (r.request_id, r))
                .collect()),
            Err(e) if whole_call(&e) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "the results of queued Tradera requests could not be read");
                Ok(BTreeMap::new())
            }
        }
    }

    /// [`Channel::list_listings`](marketsync_core::Channel::list_listings).
    pub(crate) async fn read_listings(
        &self,
        query: &ListingQuery,
    ) -> Result<ListingPage, ChannelError> {
        let op = "list_listings";
        let response = self
            .client
            .get_response("v4/listings/seller-items", &[], op)
            .await
            .map_err(|e| self.err(e, op))?;
        let status = response.status().as_u16();
        let skus: Option<HashSet<&str>> =
            (!query.skus.is_empty()).then(|| query.skus.iter().map(|s| s.as_str()).collect());
        let filter = decode::ItemFilter {
            skus: skus.as_ref(),
            include_ended: query.include_ended,
        };
        let read = decode::seller_items(response.bytes(), self.config.clock.now(), filter);
        drop(response);
        let items = read.map_err(|e| self.err(with_status(e, status), op))?;
        {
            let mut known = self
                .non_shop_items
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            known.extend(items.non_shop_items.iter().copied());
        }
        Ok(ListingPage {
            listings: items.listings,
            next_page: None,
        })
    }

    /// [`Channel::update_listings`](marketsync_core::Channel::update_listings).
    pub(crate) async fn send_updates(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "update_listings";
        let mut results: Vec<Result<(), ChannelError>> = Vec::with_capacity(updates.len());
        let mut ids: Vec<Option<i64>> = Vec::with_capacity(updates.len());
        let mut quantities: Vec<wire::QuantityItem> = Vec::new();
        let mut prices: Vec<wire::PriceItem> = Vec::new();
        for u in updates {
            let id = match numeric_id("item id", u.listing_id.as_str()) {
                Ok(id) => id,
                Err(e) => {
                    results.push(Err(e));
                    ids.push(None);
                    continue;
                }
            };
            let price = match u.price.as_ref().map(convert::whole_kronor).transpose() {
                Ok(p) => p,
                Err(e) => {
                    results.push(Err(e));
                    ids.push(None);
                    continue;
                }
            };
            if let Some(q) = u.quantity {
                quantities.push(wire::QuantityItem {
                    id,
                    quantity: i64::from(q),
                });
            }
            if let Some(price) = price {
                prices.push(wire::PriceItem { id, price });
            }
            results.push(Ok(()));
            ids.push(Some(id));
        }
        let mut batch = Batch {
            results: &mut results,
            ids: &ids,
        };
        if !quantities.is_empty() {
            self.send_batch(
                "v4/listings/shop-items/quantities",
                &quantities,
                "quantity",
                &mut batch,
            )
            .await?;
        }
        if !prices.is_empty() {
            let queued = self
                .send_batch(
                    "v4/listings/shop-items/prices",
                    &prices,
                    "price",
                    &mut batch,
                )
                .await?;
            let request_ids: Vec<i64> = queued.iter().map(|q| q.request_id).collect();
            let failures = self
                .queued_failures(&request_ids)
                .await
                .map_err(|e| self.err(e, op))?;
            for q in &queued {
                if let Some(f) = failures.get(&q.request_id) {
                    batch.fail(q.item_id, &refused(f.message.as_deref(), "price"));
                }
            }
        }

        Ok(updates
            .iter()
            .zip(results)
            .map(|(u, r)| ListingOutcome {
                listing_id: Some(u.listing_id.clone()),
                sku: Some(u.sku.clone()),
                result: r
                    .map(|()| u.listing_id.clone())
                    .map_err(|e| self.err(e, op)),
            })
            .collect())
    }

    /// One batch call of the update (`PUT path` with `{"shopItems": items}`): the entries Tradera
    /// refused (`validationErrors`) fail their listings with `field` named, a failed call fails
    /// all its listings, and an error that concerns the account fails the whole update. The
    /// answer's queued requests are returned.
    async fn send_batch<T: Serialize + DeserializeOwned + wire::BatchItem>(
        &self,
        path: &str,
        items: &[T],
        field: &str,
        batch: &mut Batch<'_>,
    ) -> Result<Vec<wire::Queued>, ChannelError> {
        let op = "update_listings";
        let sent = self
            .client
            .send(
                Method::PUT,
                path,
                &wire::ShopItems { shop_items: items },
                op,
            )
            .await
            .and_then(|r| r.json::<wire::BatchResult<T>>());
        match sent {
            Ok(answer) => {
                for v in answer.validation_errors.unwrap_or_default() {
                    if let Some(item) = v.item {
                        batch.fail(item.id(), &refused(v.error_message.as_deref(), field));
                    }
                }
                Ok(answer.queued_request_responses.unwrap_or_default())
            }
            Err(e) if whole_call(&e) => Err(self.err(e, op)),
            Err(e) => {
                let e = batch_failure(&e);
                for item in items {
                    batch.fail(item.id(), &e);
                }
                Ok(Vec::new())
            }
        }
    }

    /// [`Channel::publish_listings`](marketsync_core::Channel::publish_listings).
    pub(crate) async fn create_listings(
        &self,
        listings: &[NewListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "publish_listings";
        let mut results: Vec<Result<wire::Queued, ChannelError>> = Vec::new();
        for n in listings {
            let price = match convert::whole_kronor(&n.price) {
                Ok(p) => p,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let body = wire::NewShopItem {
                title: n.title.clone(),
                own_references: vec![n.sku.as_str().to_owned()],
                price,
                absolute_quantity: i64::from(n.quantity),
                category_id: self.config.category_id,
            };
            let sent = self
                .client
                .send(Method::POST, "v4/listings/shop-items", &body, op)
                .await
                .and_then(|r| r.json::<wire::Queued>());
            match sent {
                Err(e) if whole_call(&e) => return Err(self.err(e, op)),
                r => results.push(r),
            }
        }
        let request_ids: Vec<i64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|q| q.request_id))
            .collect();
        let failures = self
            .queued_failures(&request_ids)
            .await
            .map_err(|e| self.err(e, op))?;
        Ok(listings
            .iter()
            .zip(results)
            .map(|(n, r)| {
                let result = r.and_then(|q| {
                    if let Some(f) = failures.get(&q.request_id) {
                        return Err(refused(f.message.as_deref(), "listing"));
                    }
                    if q.item_id <= 0 {
                        return Err(ChannelError::new(
                            ErrorKind::Channel,
                            format!(
                                "Tradera queued the new shop item (request {}) without its item id; link listings to find it by own reference",
                                q.request_id
                            ),
                        ));
                    }
                    ChannelListingId::new(q.item_id.to_string())
                        .map_err(|e| ChannelError::new(ErrorKind::Channel, e.to_string()))
                });
                let result = result.map_err(|e| self.err(e, op));
                ListingOutcome {
                    listing_id: result.as_ref().ok().cloned(),
                    sku: Some(n.sku.clone()),
                    result,
                }
            })
            .collect())
    }

    /// [`Channel::end_listings`](marketsync_core::Channel::end_listings).
    pub(crate) async fn remove_listings(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let op = "end_listings";
        let mut results: Vec<Result<Option<i64>, ChannelError>> = Vec::new();
        for l in listings {
            let id = match numeric_id("item id", l.listing_id.as_str()) {
                Ok(id) => id,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let non_shop = self
                .non_shop_items
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&id);
            let sent = if non_shop {
                self.end_item(id, op).await.map(|()| None)
            } else {
                let removed = self
                    .client
                    .call(
                        Method::DELETE,
                        &format!("v4/listings/shop-items/{id}"),
                        true,
                        op,
                    )
                    .await
                    .and_then(|r| r.json::<wire::Queued>())
                    .map(|q| Some(q.request_id));
                match removed {
                    // Not a shop item, or gone: its own read says which.
                    Err(e) if gone_already(&e) => {
                        self.end_unknown_item(id, op).await.map(|()| None)
                    }
                    r => r,
                }
            };
            match sent {
                Err(e) if whole_call(&e) => return Err(self.err(e, op)),
                Err(e) if gone_already(&e) => results.push(Ok(None)),
                r => results.push(r),
            }
        }
        let request_ids: Vec<i64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied().flatten())
            .collect();
        let failures = self
            .queued_failures(&request_ids)
            .await
            .map_err(|e| self.err(e, op))?;
        Ok(listings
            .iter()
            .zip(results)
            .map(|(l, r)| {
                let result = r
                    .and_then(|request| match request.and_then(|id| failures.get(&id)) {
                        Some(f) => match refused(f.message.as_deref(), "listing") {
                            // Gone already, as with a 404: nothing is left to end.
                            e if e.kind() == ErrorKind::NotFound => Ok(l.listing_id.clone()),
                            e => Err(e),
                        },
                        None => Ok(l.listing_id.clone()),
                    })
                    .map_err(|e| self.err(e, op));
                ListingOutcome {
                    listing_id: Some(l.listing_id.clone()),
                    sku: l.sku.clone(),
                    result,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_failures_need_a_message_and_another_code() {
        let r = |code, m: Option<&str>| QueuedResult {
            request_id: 1,
            result_code: code,
            message: m.map(str::to_owned),
        };
        assert!(!r(RESULT_OK, Some("Done")).is_failure());
        assert!(!r(2, None).is_failure());
        assert!(r(4, Some("Invalid category")).is_failure());
    }
}
