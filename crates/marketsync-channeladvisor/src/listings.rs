//! Listings: reading products by SKU chunk or the whole catalogue, quantity and price updates in
//! one `$batch`, and ending (removing the integration's label).

use std::collections::HashSet;

use marketsync_core::{
    ChannelError, ChannelListingId, ChannelListingState, Currency, EndListing, ErrorKind,
    ListingOutcome, ListingPage, ListingQuery, ListingUpdate, PageToken,
};
use serde_json::Value;

use crate::channel::{ChannelAdvisorChannel, with_status};
use crate::convert::numeric_id;
use crate::decode;
use crate::wire::{self, BatchRequest};

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
/// so 50 fill one `$batch` of at most [`MAX_BATCH`](crate::MAX_BATCH) requests.
pub const LISTINGS_PER_UPDATE: u32 = 50;

impl ChannelAdvisorChannel {
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

    fn label_url(&self, product_id: u64, label: &str) -> Result<String, ChannelError> {
        // The batch-safe entity URI (the `Products(ID)/Labels('x')` alias is refused in $batch).
        let name = wire::encode(&label.replace('\'', "''"));
        self.client.url(
            &format!("ProductLabels(ProductID={product_id},Name='{name}')"),
            &[],
        )
    }

    /// `GET /v1/Products` of the profile, by SKU chunks or (without SKUs) every product on the
    /// label; `@odata.nextLink` followed exactly. `page_size` is not sent: `$top` would cut the
    /// result instead of paging it. With [`CATALOGUE_MIN_CHUNKS`] chunks or more, the whole
    /// catalogue is read instead when that takes fewer requests (see there).
    pub(crate) async fn read_listings(
        &self,
        query: &ListingQuery,
    ) -> Result<ListingPage, ChannelError> {
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
    pub(crate) async fn send_listing_updates(
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

    /// Removes the integration's label from each product (`DELETE
    /// ProductLabels(ProductID=..,Name='..')` in one `$batch`), so ChannelAdvisor stops sending
    /// it to the marketplace. A 404 means the label (or the product) is already gone: done.
    pub(crate) async fn remove_labels(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
