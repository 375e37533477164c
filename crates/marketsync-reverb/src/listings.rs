//! Listings: reads (by SKU, or the whole shop when that is cheaper), one update, creation and
//! end per call (Reverb has no batch endpoint).

use std::collections::HashMap;

use marketsync_core::{
    ChannelError, ChannelListingId, ChannelListingState, EndListing, ErrorKind, ListingPage,
    ListingQuery, ListingUpdate, NewListing, PageToken, Sku,
};
use marketsync_http::Method;
use marketsync_http::adapter::with_status;

use crate::channel::ReverbChannel;
use crate::config::MAX_PAGE_SIZE;
use crate::convert::{self, path_id};
use crate::{decode, wire};

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

impl ReverbChannel {
    /// `per_page`: the engine's page size, else the configured one, at most [`MAX_PAGE_SIZE`].
    pub(crate) fn per_page(&self, requested: Option<u32>) -> String {
        requested
            .unwrap_or(self.config.page_size)
            .clamp(1, MAX_PAGE_SIZE)
            .to_string()
    }

    /// [`Channel::list_listings`](marketsync_core::Channel::list_listings).
    pub(crate) async fn read_listings(
        &self,
        query: &ListingQuery,
    ) -> Result<ListingPage, ChannelError> {
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
        decode::listings_page(response.bytes())
            .map_err(|e| with_status(e, response.status().as_u16()))
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

    /// `PUT /api/listings/{id}` with what changed (nothing sent when nothing did).
    pub(crate) async fn update_one(
        &self,
        u: &ListingUpdate,
    ) -> Result<ChannelListingId, ChannelError> {
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
            return Ok(u.listing_id.clone());
        }
        self.client
            .send(
                Method::PUT,
                &format!("api/listings/{id}"),
                &body,
                "update_listings",
            )
            .await
            .map(|_| u.listing_id.clone())
    }

    /// `POST /api/listings`: the new listing's id.
    pub(crate) async fn publish_one(
        &self,
        n: &NewListing,
    ) -> Result<ChannelListingId, ChannelError> {
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

    /// `PUT /api/my/listings/{id}/state/end`; gone already (404) is done.
    pub(crate) async fn end_one(&self, l: &EndListing) -> Result<ChannelListingId, ChannelError> {
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
            // Gone already: nothing is left to end.
            Ok(_) => Ok(l.listing_id.clone()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(l.listing_id.clone()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
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
}
