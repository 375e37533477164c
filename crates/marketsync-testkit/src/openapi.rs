//! Request bodies (and response bodies) checked against a marketplace's official OpenAPI 3.0
//! document.
//!
//! A sandbox's answers are checked the same way against the response schema of their
//! operation, status and content type with
//! [`RequestSchemas::check_response`].
//!
//! An adapter's wiremock tests capture the JSON bodies it sends and check each one against the
//! request-body schema of its operation and content type:
//!
//! ```
//! use marketsync_testkit::openapi::RequestSchemas;
//! use serde_json::json;
//!
//! let spec = json!({
//!     "paths": {"/orders/{id}/ship": {"post": {"requestBody": {"content": {
//!         "application/json": {"schema": {"$ref": "#/components/schemas/Ship"}}
//!     }}}}},
//!     "components": {"schemas": {"Ship": {
//!         "type": "object",
//!         "required": ["carrier"],
//!         "properties": {"carrier": {"type": "string"}, "tracking": {"type": "string"}}
//!     }}}
//! });
//! let schemas = RequestSchemas::from_json(spec);
//! let template = schemas.path_template("/orders/17/ship").unwrap();
//! assert_eq!(template, "/orders/{id}/ship");
//! assert!(schemas
//!     .check_request_body("POST", template, "application/json", &json!({"carrier": "UPS"}))
//!     .is_ok());
//! let errors = schemas
//!     .check_request_body("POST", template, "application/json", &json!({"trackng": "1Z"}))
//!     .unwrap_err();
//! assert_eq!(errors, [
//!     "$.trackng: not in the spec's schema",
//!     "$.carrier: required by the spec, missing",
//! ]);
//! ```
//!
//! # What is checked
//!
//! The subset of OpenAPI 3.0 schemas that marketplaces use in request bodies:
//!
//! - `$ref` to anywhere in the same document (`#/components/schemas/…`, `#/components/requestBodies/…`),
//!   resolved recursively; a reference that comes back to itself without the value getting any
//!   deeper (a cycle) is not followed again. As OpenAPI 3.0 says, keywords beside a `$ref` are
//!   ignored.
//! - `type` (`integer` accepts only whole JSON numbers, `number` any number), `nullable`
//!   (`null` passes only where `nullable: true`, or where no `type` is given), `enum`.
//! - `format`: `date-time` must parse as RFC 3339, `uuid` as a hyphenated UUID, `int32` and
//!   `int64` must fit. Other formats (`binary`, `double`, free-text ones) are not checked.
//! - `minimum`, `maximum` (with the boolean `exclusiveMinimum` / `exclusiveMaximum`),
//!   `minLength`, `maxLength` (in characters), `minItems`, `maxItems`, `minProperties`,
//!   `maxProperties`.
//! - `required`, `properties`, `items`, `additionalProperties`.
//! - `allOf` (every branch must pass), `oneOf` and `anyOf` (at least one branch must pass: the
//!   checker does not insist that a `oneOf` value match exactly one branch). With a
//!   `discriminator` whose `mapping` names the value's discriminator property, only the mapped
//!   branch is checked, so its errors are reported exactly.
//! - A `discriminator` on a base schema without alternatives (subtypes built as
//!   `allOf: [base, …]`, as Allegro's `PriceModification`): a value reached through a reference
//!   to the base whose tag the `mapping` names is checked against the mapped subtype.
//! - `pattern` is **not** checked (the core has no regular-expression engine).
//!
//! # Unknown fields
//!
//! A field a marketplace does not know is usually ignored by it silently (Allegro answers with
//! an `UnknownJSONProperty` warning at best), so a misspelt field name is a bug that only a
//! schema check finds. The checker therefore treats an object schema as **closed** when it lists
//! `properties` (or says `additionalProperties: false`) and does not say
//! `additionalProperties: true` or give `additionalProperties` a schema: every field of the value
//! that no `properties` names is reported as "not in the spec's schema". This is stricter than
//! JSON Schema, where an absent `additionalProperties` allows anything, and it is what the
//! project's Reverb check has done since that adapter was written. An object schema with neither
//! `properties` nor `additionalProperties` (a free-form object) accepts any field.
//!
//! Under `allOf` the properties of all branches (and of the schema holding the `allOf`) are
//! merged before unknown fields are looked for, so a field known to one branch is not unknown to
//! another. Under `oneOf` / `anyOf` each alternative is checked with its own properties plus
//! those of the schema around it. An `additionalProperties` schema checks every field its own
//! `properties` do not name.
//!
//! # Errors
//!
//! Every violation is one message starting with the JSON path of the offending value, from `$`
//! for the body itself (`$.offers[2].price.amount: expected string, got 12.5`).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// The request-body schemas of one OpenAPI 3.0 document, ready to check bodies against.
#[derive(Clone, Debug)]
pub struct RequestSchemas {
    spec: Value,
}

impl RequestSchemas {
    /// The document, parsed to JSON (a YAML document converted to JSON works the same).
    pub fn from_json(spec: Value) -> Self {
        Self { spec }
    }

    /// The document itself.
    pub fn spec(&self) -> &Value {
        &self.spec
    }

    /// The path template of the document that a concrete request path matches: each `{param}`
    /// matches one non-empty segment, and where several templates match, the one with the most
    /// literal segments wins (`/offers/batch` over `/offers/{id}`). `None` if none matches. The
    /// path must be relative to the document's server URL (without its base path) and without
    /// a query.
    pub fn path_template(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut best: Option<(&str, usize)> = None;
        for template in self.spec.get("paths")?.as_object()?.keys() {
            let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
            if parts.len() != segments.len() {
                continue;
            }
            let mut literals = 0;
            let matches = parts.iter().zip(&segments).all(|(p, s)| {
                if p.starts_with('{') && p.ends_with('}') {
                    !s.is_empty()
                } else {
                    literals += 1;
                    p == s
                }
            });
            if matches && best.is_none_or(|(_, l)| literals > l) {
                best = Some((template.as_str(), literals));
            }
        }
        best.map(|(t, _)| t)
    }

    /// The request-body schema of `method path_template` for `content_type`, if the document has
    /// one. The content type's parameters (`; charset=utf-8`) are ignored; an exact media type
    /// is preferred, then a range the document lists (`application/*+json`, `application/*`,
    /// `*/*`).
    pub fn request_schema(
        &self,
        method: &str,
        path_template: &str,
        content_type: &str,
    ) -> Option<&Value> {
        let operation = self
            .spec
            .get("paths")?
            .get(path_template)?
            .get(method.to_ascii_lowercase())?;
        let body = self.resolve(operation.get("requestBody")?)?;
        self.media_schema(body.get("content")?.as_object()?, content_type)
    }

    /// The schema of the media type in `content` that `content_type` selects: the exact type
    /// first, else the most specific media range that matches it.
    fn media_schema<'a>(
        &'a self,
        content: &'a Map<String, Value>,
        content_type: &str,
    ) -> Option<&'a Value> {
        let wanted = essence(content_type);
        let media = content
            .iter()
            .find(|(k, _)| essence(k) == wanted)
            .or_else(|| {
                content
                    .iter()
                    .filter(|(k, _)| media_range_matches(&essence(k), &wanted))
                    .max_by_key(|(k, _)| specificity(k))
            })?
            .1;
        media.get("schema").and_then(|s| self.resolve(s))
    }

    /// Checks `body` against the request-body schema of `method path_template` for
    /// `content_type`: `Ok` if it conforms, otherwise one message per violation, each naming the
    /// JSON path of the offending value. A missing operation or request-body schema is an error
    /// too (one message saying so).
    pub fn check_request_body(
        &self,
        method: &str,
        path_template: &str,
        content_type: &str,
        body: &Value,
    ) -> Result<(), Vec<String>> {
        match self.request_schema(method, path_template, content_type) {
            Some(schema) => self.check_value(schema, body),
            None => Err(vec![format!(
                "the spec has no request-body schema for {} {path_template} ({})",
                method.to_ascii_uppercase(),
                essence(content_type)
            )]),
        }
    }

    /// Checks one request as it was sent: its operation is found by `method` and the concrete
    /// `path` (see [`path_template`](Self::path_template)); a body is parsed as JSON and checked
    /// against the operation's request-body schema for `content_type`
    /// ([`check_request_body`](Self::check_request_body)); an empty body passes only where the
    /// operation's request body is not `required`. Returns the operation as
    /// `"METHOD template"`, or every violation.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<String, Vec<String>> {
        let method = method.to_ascii_uppercase();
        let Some(template) = self.path_template(path) else {
            return Err(vec![format!("{method} {path}: no such path in the spec")]);
        };
        let operation = format!("{method} {template}");
        let Some(op) = self.spec["paths"][template].get(method.to_ascii_lowercase()) else {
            return Err(vec![format!("{operation}: no such operation in the spec")]);
        };
        if body.is_empty() {
            let required = op
                .get("requestBody")
                .and_then(|b| self.resolve(b))
                .and_then(|b| b.get("required"))
                .and_then(Value::as_bool)
                == Some(true);
            return if required {
                Err(vec![format!(
                    "{operation}: the spec requires a body, none sent"
                )])
            } else {
                Ok(operation)
            };
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| vec![format!("{operation}: the body is not JSON: {e}")])?;
        self.check_request_body(&method, template, content_type.unwrap_or_default(), &value)
            .map(|()| operation)
    }

    /// The response of `method path_template` for `status`, as the document lists it: the exact
    /// status code, else its range (`4XX`), else `default`. `None` if the operation or such a
    /// response is missing.
    pub fn response(&self, method: &str, path_template: &str, status: u16) -> Option<&Value> {
        let responses = self
            .spec
            .get("paths")?
            .get(path_template)?
            .get(method.to_ascii_lowercase())?
            .get("responses")?;
        let range = format!("{}XX", status / 100);
        let response = responses
            .get(status.to_string())
            .or_else(|| {
                responses.as_object().and_then(|m| {
                    m.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(&range))
                        .map(|(_, v)| v)
                })
            })
            .or_else(|| responses.get("default"))?;
        self.resolve(response)
    }

    /// The response-body schema of `method path_template` for `status` and `content_type`
    /// (chosen as in [`response`](Self::response) and
    /// [`request_schema`](Self::request_schema)), if the document has one.
    pub fn response_schema(
        &self,
        method: &str,
        path_template: &str,
        status: u16,
        content_type: &str,
    ) -> Option<&Value> {
        let content = self
            .response(method, path_template, status)?
            .get("content")?
            .as_object()?;
        self.media_schema(content, content_type)
    }

    /// Checks one response as a server answered it: the operation is found by `method` and the
    /// concrete request `path` (see [`path_template`](Self::path_template)), the response by
    /// `status` (see [`response`](Self::response)); a body is parsed as JSON and checked against
    /// that response's schema for `content_type`. An empty body passes only where the response
    /// declares no content; a status the operation does not list (and no `default`), or a
    /// content type it has no schema for, are violations. Returns the operation and status as
    /// `"METHOD template → status"` — with `" (body not described)"` appended where a body was
    /// sent for a response that the document lists without content, so it could not be
    /// checked — or every violation.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<String, Vec<String>> {
        let method = method.to_ascii_uppercase();
        let Some(template) = self.path_template(path) else {
            return Err(vec![format!("{method} {path}: no such path in the spec")]);
        };
        let operation = format!("{method} {template} → {status}");
        let Some(response) = self.response(&method, template, status) else {
            return Err(vec![format!(
                "{operation}: the spec lists no such response for the operation"
            )]);
        };
        let declares_content = response
            .get("content")
            .and_then(Value::as_object)
            .is_some_and(|c| !c.is_empty());
        if body.is_empty() {
            return if declares_content {
                Err(vec![format!(
                    "{operation}: the spec's response has a body, none sent"
                )])
            } else {
                Ok(operation)
            };
        }
        if !declares_content {
            // Marketplaces often list an error status without describing its body (Allegro's
            // `422` of `GET /order/events`): there is nothing to check the body against.
            return Ok(format!("{operation} (body not described)"));
        }
        let media = essence(content_type.unwrap_or_default());
        let Some(schema) = self.response_schema(&method, template, status, &media) else {
            return Err(vec![format!(
                "{operation}: the spec has no response schema for {media}"
            )]);
        };
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| vec![format!("{operation}: the body is not JSON: {e}")])?;
        self.check_value(schema, &value)
            .map(|()| operation.clone())
            .map_err(|errors| {
                errors
                    .into_iter()
                    .map(|e| format!("{operation}: {e}"))
                    .collect()
            })
    }

    /// Checks `value` against `schema`, resolving the schema's references in this document
    /// (for a schema such as `{"$ref": "#/components/schemas/Price"}`).
    pub fn check_value(&self, schema: &Value, value: &Value) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        let mut refs = Vec::new();
        self.check(
            schema,
            value,
            "$",
            Some(&BTreeSet::new()),
            &mut refs,
            &mut errors,
        );
        if errors.is_empty() {
            return Ok(());
        }
        // Two `allOf` branches that both say `type: object` report a non-object twice.
        let mut seen = BTreeSet::new();
        errors.retain(|e| seen.insert(e.clone()));
        Err(errors)
    }

    /// Follows `$ref`s (within the document) until a schema without one. `None` if a reference
    /// points nowhere or the chain loops.
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> Option<&'a Value> {
        let mut seen = Vec::new();
        while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            if seen.contains(&r) {
                return None;
            }
            seen.push(r);
            schema = self.pointer(r)?;
        }
        Some(schema)
    }

    /// The target of a local reference (`#/components/schemas/X`).
    fn pointer(&self, reference: &str) -> Option<&Value> {
        self.spec.pointer(reference.strip_prefix('#')?)
    }

    /// Checks `value` at `at` against `schema`, pushing violations to `errors`.
    ///
    /// `known`: `Some(names)` when this node is where unknown fields are looked for, `names`
    /// being properties known from around it (the schema holding a `oneOf`); `None` when a
    /// schema around it (holding the `allOf` this is a branch of) looks for them instead.
    /// `refs`: the references being followed at this same value, to stop cycles.
    fn check<'a>(
        &'a self,
        schema: &'a Value,
        value: &Value,
        at: &str,
        known: Option<&BTreeSet<&'a str>>,
        refs: &mut Vec<&'a str>,
        errors: &mut Vec<String>,
    ) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            if refs.contains(&r) {
                return;
            }
            let Some(target) = self.pointer(r) else {
                errors.push(format!("{at}: the spec's reference {r} points nowhere"));
                return;
            };
            // A base schema whose discriminator maps the value's tag to a schema built on it
            // (`allOf: [base, …]`) is checked as that schema; the base, met again inside it, is
            // then checked as itself.
            if !self.has_alternatives(target, &mut Vec::new())
                && let Some(mapped) = self.mapped_reference(target, value)
                && mapped != r
                && !refs.contains(&mapped)
                && let Some(subtype) = self.pointer(mapped)
            {
                refs.push(mapped);
                self.check(subtype, value, at, known, refs, errors);
                refs.pop();
                return;
            }
            refs.push(r);
            self.check(target, value, at, known, refs, errors);
            refs.pop();
            return;
        }
        if value.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
            return;
        }
        if let Some(ty) = schema.get("type").and_then(Value::as_str)
            && !type_matches(ty, value)
        {
            errors.push(format!("{at}: expected {ty}, got {}", brief(value)));
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let allowed: Vec<String> = allowed.iter().map(Value::to_string).collect();
            errors.push(format!(
                "{at}: {} is not one of {}",
                brief(value),
                allowed.join(", ")
            ));
        }
        match value {
            Value::String(s) => check_string(schema, s, at, errors),
            Value::Number(_) => check_number(schema, value, at, errors),
            Value::Array(items) => self.check_array(schema, items, at, errors),
            Value::Object(object) => self.check_object(schema, object, at, known, errors),
            _ => {}
        }

        for branch in array(schema, "allOf") {
            // Unknown fields are looked for here, over the merged properties, unless alternatives
            // below decide them.
            let inner = known.filter(|_| self.has_alternatives(branch, &mut Vec::new()));
            let merged = known.map(|k| self.merged_known(schema, k));
            self.check(branch, value, at, inner.and(merged.as_ref()), refs, errors);
        }
        for keyword in ["oneOf", "anyOf"] {
            let branches = array(schema, keyword);
            if branches.is_empty() {
                continue;
            }
            let merged = known.map(|k| self.merged_known(schema, k));
            let alternatives: Vec<&Value> = match self.discriminated(schema, value) {
                Some(branch) => vec![branch],
                None => branches.iter().collect(),
            };
            let mut best: Option<Vec<String>> = None;
            for branch in &alternatives {
                let mut branch_errors = Vec::new();
                self.check(branch, value, at, merged.as_ref(), refs, &mut branch_errors);
                if branch_errors.is_empty() {
                    best = None;
                    break;
                }
                if best.as_ref().is_none_or(|b| branch_errors.len() < b.len()) {
                    best = Some(branch_errors);
                }
            }
            if let Some(closest) = best {
                if alternatives.len() > 1 {
                    errors.push(format!(
                        "{at}: matches none of the {} alternatives of {keyword}; the closest fails with:",
                        alternatives.len()
                    ));
                }
                errors.extend(closest);
            }
        }
    }

    /// The branch a `discriminator` with a `mapping` picks for `value`, if it picks one.
    fn discriminated<'a>(&'a self, schema: &'a Value, value: &Value) -> Option<&'a Value> {
        self.pointer(self.mapped_reference(schema, value)?)
    }

    /// The reference a `discriminator`'s `mapping` gives for `value`'s tag, if any.
    fn mapped_reference<'a>(&'a self, schema: &'a Value, value: &Value) -> Option<&'a str> {
        let d = schema.get("discriminator")?;
        let property = d.get("propertyName")?.as_str()?;
        let tag = value.get(property)?.as_str()?;
        d.get("mapping")?.get(tag)?.as_str()
    }

    fn check_array<'a>(
        &'a self,
        schema: &'a Value,
        items: &[Value],
        at: &str,
        errors: &mut Vec<String>,
    ) {
        if let Some(min) = uint(schema, "minItems")
            && (items.len() as u64) < min
        {
            errors.push(format!(
                "{at}: {} items, fewer than minItems {min}",
                items.len()
            ));
        }
        if let Some(max) = uint(schema, "maxItems")
            && (items.len() as u64) > max
        {
            errors.push(format!(
                "{at}: {} items, more than maxItems {max}",
                items.len()
            ));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                self.check(
                    item_schema,
                    item,
                    &format!("{at}[{i}]"),
                    Some(&BTreeSet::new()),
                    &mut Vec::new(),
                    errors,
                );
            }
        }
    }

    fn check_object<'a>(
        &'a self,
        schema: &'a Value,
        object: &Map<String, Value>,
        at: &str,
        known: Option<&BTreeSet<&'a str>>,
        errors: &mut Vec<String>,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(properties) = properties {
            for (key, value) in object {
                if let Some(s) = properties.get(key) {
                    self.check(
                        s,
                        value,
                        &format!("{at}.{key}"),
                        Some(&BTreeSet::new()),
                        &mut Vec::new(),
                        errors,
                    );
                }
            }
        }
        if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            for (key, value) in object {
                if properties.is_none_or(|p| !p.contains_key(key)) {
                    self.check(
                        extra,
                        value,
                        &format!("{at}.{key}"),
                        Some(&BTreeSet::new()),
                        &mut Vec::new(),
                        errors,
                    );
                }
            }
        }
        if let Some(known) = known
            && !self.has_alternatives(schema, &mut Vec::new())
        {
            let mut shape = Shape::default();
            self.shape(schema, &mut shape, &mut Vec::new());
            if shape.closed && !shape.open {
                for key in object.keys() {
                    if !shape.names.contains(key.as_str()) && !known.contains(key.as_str()) {
                        errors.push(format!("{at}.{key}: not in the spec's schema"));
                    }
                }
            }
        }
        for name in array(schema, "required").iter().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                errors.push(format!("{at}.{name}: required by the spec, missing"));
            }
        }
        if let Some(min) = uint(schema, "minProperties")
            && (object.len() as u64) < min
        {
            errors.push(format!(
                "{at}: {} fields, fewer than minProperties {min}",
                object.len()
            ));
        }
        if let Some(max) = uint(schema, "maxProperties")
            && (object.len() as u64) > max
        {
            errors.push(format!(
                "{at}: {} fields, more than maxProperties {max}",
                object.len()
            ));
        }
    }

    /// `known` plus the property names of `schema` and its `allOf` branches.
    fn merged_known<'a>(
        &'a self,
        schema: &'a Value,
        known: &BTreeSet<&'a str>,
    ) -> BTreeSet<&'a str> {
        let mut shape = Shape::default();
        self.shape(schema, &mut shape, &mut Vec::new());
        shape.names.extend(known.iter().copied());
        shape.names
    }

    /// Collects what `schema` and its `allOf` branches say about an object's fields.
    fn shape<'a>(&'a self, schema: &'a Value, shape: &mut Shape<'a>, refs: &mut Vec<&'a str>) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            if refs.contains(&r) {
                return;
            }
            if let Some(target) = self.pointer(r) {
                refs.push(r);
                self.shape(target, shape, refs);
                refs.pop();
            }
            return;
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            shape.closed = true;
            shape.names.extend(properties.keys().map(String::as_str));
        }
        match schema.get("additionalProperties") {
            Some(Value::Bool(false)) => shape.closed = true,
            Some(Value::Bool(true) | Value::Object(_)) => shape.open = true,
            _ => {}
        }
        for branch in array(schema, "allOf") {
            self.shape(branch, shape, refs);
        }
    }

    /// Whether `schema` or one of its `allOf` branches has `oneOf` / `anyOf` alternatives (which
    /// then decide unknown fields).
    fn has_alternatives<'a>(&'a self, schema: &'a Value, refs: &mut Vec<&'a str>) -> bool {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            if refs.contains(&r) {
                return false;
            }
            refs.push(r);
            let found = self
                .pointer(r)
                .is_some_and(|target| self.has_alternatives(target, refs));
            refs.pop();
            return found;
        }
        !array(schema, "oneOf").is_empty()
            || !array(schema, "anyOf").is_empty()
            || array(schema, "allOf")
                .iter()
                .any(|b| self.has_alternatives(b, refs))
    }
}

/// What a schema says about an object's fields.
#[derive(Default)]
struct Shape<'a> {
    /// Every property name.
    names: BTreeSet<&'a str>,
    /// Lists properties or forbids additional ones: unknown fields are reported.
    closed: bool,
    /// Allows additional properties: unknown fields are not reported.
    open: bool,
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    }
}

fn check_string(schema: &Value, s: &str, at: &str, errors: &mut Vec<String>) {
    let chars = s.chars().count() as u64;
    if let Some(min) = uint(schema, "minLength")
        && chars < min
    {
        errors.push(format!(
            "{at}: {chars} characters, fewer than minLength {min}"
        ));
    }
    if let Some(max) = uint(schema, "maxLength")
        && chars > max
    {
        errors.push(format!(
            "{at}: {chars} characters, more than maxLength {max}"
        ));
    }
    match schema.get("format").and_then(Value::as_str) {
        Some("date-time") if chrono::DateTime::parse_from_rfc3339(s).is_err() => {
            errors.push(format!("{at}: {s:?} is not an RFC 3339 date-time"));
        }
        Some("uuid") if s.len() != 36 || uuid::Uuid::try_parse(s).is_err() => {
            errors.push(format!("{at}: {s:?} is not a hyphenated UUID"));
        }
        _ => {}
    }
}

fn check_number(schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let n = value.as_f64().unwrap_or(f64::NAN);
    let exclusive = |key: &str| schema.get(key).and_then(Value::as_bool) == Some(true);
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let below = if exclusive("exclusiveMinimum") {
            n <= min
        } else {
            n < min
        };
        if below {
            errors.push(format!("{at}: {value} is below the minimum {min}"));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let above = if exclusive("exclusiveMaximum") {
            n >= max
        } else {
            n > max
        };
        if above {
            errors.push(format!("{at}: {value} is above the maximum {max}"));
        }
    }
    let fits = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => value.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        Some("int64") => value.is_i64(),
        _ => true,
    };
    if !fits {
        errors.push(format!(
            "{at}: {value} does not fit the format {}",
            schema["format"].as_str().unwrap_or_default()
        ));
    }
}

/// The array under `key`, or an empty one.
fn array<'a>(schema: &'a Value, key: &str) -> &'a [Value] {
    schema
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn uint(schema: &Value, key: &str) -> Option<u64> {
    schema.get(key).and_then(Value::as_u64)
}

/// A value for a message: itself, cut short if long.
fn brief(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// A media type without parameters, lower case.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether the media range `range` (`application/*+json`, `text/*`, `*/*`) covers `media`.
fn media_range_matches(range: &str, media: &str) -> bool {
    let (Some((rt, rs)), Some((mt, ms))) = (range.split_once('/'), media.split_once('/')) else {
        return false;
    };
    let type_ok = rt == "*" || rt == mt;
    let subtype_ok = match rs.strip_prefix('*') {
        Some(suffix) => ms.ends_with(suffix),
        None => rs == ms,
    };
    type_ok && subtype_ok
}

/// How specific a media range is: more literal characters, more specific.
fn specificity(range: &str) -> usize {
    range.chars().filter(|c| *c != '*').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A small document using every keyword the checker supports.
    fn schemas() -> RequestSchemas {
        RequestSchemas::from_json(json!({
            "openapi": "3.0.0",
            "paths": {
                "/offers/{offerId}": {
                    "put": {"requestBody": {"content": {
                        "application/vnd.test.v1+json": {"schema": {"$ref": "#/components/schemas/Offer"}}
                    }}}
                },
                "/offers/batch": {
                    "post": {"requestBody": {"$ref": "#/components/requestBodies/Batch"}}
                },
                "/loose": {
                    "post": {"requestBody": {"content": {
                        "application/*+json": {"schema": {"type": "object", "properties": {"wild": {"type": "boolean"}}}},
                        "text/json": {"schema": {"type": "object", "properties": {"text": {"type": "boolean"}}}}
                    }}}
                },
                "/nobody": {"post": {"responses": {}}},
                "/needed": {"post": {"requestBody": {"required": true, "content": {
                    "application/json": {"schema": {"type": "object"}}
                }}}}
            },
            "components": {
                "requestBodies": {
                    "Batch": {"content": {"application/json": {"schema": {
                        "type": "array", "minItems": 1, "maxItems": 2,
                        "items": {"$ref": "#/components/schemas/Offer"}
                    }}}}
                },
                "schemas": {
                    "Price": {
                        "type": "object",
                        "required": ["amount", "currency"],
                        "properties": {
                            "amount": {"type": "string", "minLength": 1, "maxLength": 8},
                            "currency": {"type": "string", "enum": ["PLN", "CZK"]}
                        }
                    },
                    "Base": {
                        "type": "object",
                        "required": ["id"],
                        "properties": {
                            "id": {"type": "string", "format": "uuid"},
                            "at": {"type": "string", "format": "date-time"}
                        }
                    },
                    "Offer": {
                        "allOf": [
                            {"$ref": "#/components/schemas/Base"},
                            {
                                "type": "object",
                                "properties": {
                                    "price": {"nullable": true, "allOf": [{"$ref": "#/components/schemas/Price"}]},
                                    "stock": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 1000},
                                    "weight": {"type": "number", "minimum": 0, "exclusiveMinimum": true},
                                    "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                                    "parent": {"$ref": "#/components/schemas/Offer"},
                                    "labels": {"type": "object", "additionalProperties": {"type": "integer"}, "maxProperties": 2},
                                    "extra": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": true},
                                    "free": {"type": "object"},
                                    "sealed": {"type": "object", "additionalProperties": false, "minProperties": 0},
                                    "delivery": {"$ref": "#/components/schemas/Delivery"},
                                    "change": {"$ref": "#/components/schemas/Change"},
                                    "contact": {"anyOf": [
                                        {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}},
                                        {"type": "object", "required": ["phone"], "properties": {"phone": {"type": "string"}}}
                                    ]}
                                }
                            }
                        ]
                    },
                    "Delivery": {
                        "type": "object",
                        "properties": {"note": {"type": "string"}},
                        "oneOf": [
                            {"$ref": "#/components/schemas/Courier"},
                            {"$ref": "#/components/schemas/Pickup"}
                        ],
                        "discriminator": {"propertyName": "kind", "mapping": {
                            "COURIER": "#/components/schemas/Courier",
                            "PICKUP": "#/components/schemas/Pickup"
                        }}
                    },
                    "Change": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"type": "string"}, "market": {"type": "string"}},
                        "discriminator": {"propertyName": "type", "mapping": {
                            "FIXED": "#/components/schemas/FixedChange"
                        }}
                    },
                    "FixedChange": {"allOf": [
                        {"$ref": "#/components/schemas/Change"},
                        {"type": "object", "required": ["value"], "properties": {"value": {"type": "integer"}}}
                    ]},
                    "Courier": {
                        "type": "object",
                        "required": ["kind", "waybill"],
                        "properties": {"kind": {"type": "string"}, "waybill": {"type": "string"}}
                    },
                    "Pickup": {
                        "type": "object",
                        "required": ["kind", "point"],
                        "properties": {"kind": {"type": "string"}, "point": {"type": "string"}}
                    }
                }
            }
        }))
    }

    const OFFER: &str = "/offers/{offerId}";
    const MEDIA: &str = "application/vnd.test.v1+json";

    fn check(body: Value) -> Vec<String> {
        // Sorted, so the order fields are visited in does not matter.
        let mut errors = schemas()
            .check_request_body("PUT", OFFER, MEDIA, &body)
            .err()
            .unwrap_or_default();
        errors.sort();
        errors
    }

    const ID: &str = "123a08d7-ab9b-460d-b9cb-d6ed64b3a018";

    #[test]
    fn a_body_using_every_keyword_passes() {
        let body = json!({
            "id": ID,
            "at": "2026-03-04T15:55:00.000Z",
            "price": {"amount": "12.50", "currency": "PLN"},
            "stock": 1000,
            "weight": 0.5,
            "tags": ["a", "b"],
            "parent": {"id": ID, "price": null, "stock": 0},
            "labels": {"x": 1, "y": 2},
            "extra": {"a": "1", "anything": [1, 2]},
            "free": {"whatever": {"deep": true}},
            "sealed": {},
            "delivery": {"kind": "PICKUP", "point": "P1", "note": "by the door"},
            "change": {"type": "FIXED", "value": 3, "market": "allegro-pl"},
            "contact": {"phone": "+48 123"}
        });
        assert_eq!(check(body), Vec::<String>::new());
    }

    #[test]
    fn unknown_fields_are_reported_with_properties_merged_under_all_of() {
        // `id` comes from one allOf branch, `stock` from the other: neither is unknown.
        let errors = check(
            json!({"id": ID, "stock": 1, "stok": 2, "price": {"amount": "1", "currency": "PLN", "value": 1}}),
        );
        assert_eq!(
            errors,
            [
                "$.price.value: not in the spec's schema",
                "$.stok: not in the spec's schema"
            ]
        );
        let errors = check(json!({"id": ID, "sealed": {"x": 1}}));
        assert_eq!(errors, ["$.sealed.x: not in the spec's schema"]);
    }

    #[test]
    fn types_are_checked_integer_apart_from_number() {
        let errors = check(json!({"id": 7}));
        assert_eq!(errors, ["$.id: expected string, got 7"]);
        let errors = check(json!({"id": ID, "stock": 1.5, "weight": 2, "tags": "a", "free": []}));
        assert_eq!(
            errors,
            [
                "$.free: expected object, got []",
                "$.stock: expected integer, got 1.5",
                "$.tags: expected array, got \"a\""
            ]
        );
        let errors = check(json!([]));
        assert_eq!(errors, ["$: expected object, got []"]);
    }

    #[test]
    fn null_passes_only_where_nullable() {
        assert_eq!(
            check(json!({"id": ID, "price": null})),
            Vec::<String>::new()
        );
        let errors = check(json!({"id": ID, "stock": null}));
        assert_eq!(errors, ["$.stock: expected integer, got null"]);
    }

    #[test]
    fn enum_and_required_are_checked() {
        let errors = check(json!({"id": ID, "price": {"amount": "1", "currency": "EUR"}}));
        assert_eq!(
            errors,
            ["$.price.currency: \"EUR\" is not one of \"PLN\", \"CZK\""]
        );
        let errors = check(json!({"price": {"currency": "PLN"}}));
        assert_eq!(
            errors,
            [
                "$.id: required by the spec, missing",
                "$.price.amount: required by the spec, missing"
            ]
        );
    }

    #[test]
    fn formats_are_checked() {
        let errors =
            check(json!({"id": "123a08d7ab9b460db9cbd6ed64b3a018", "at": "2026-03-04 15:55"}));
        assert_eq!(
            errors,
            [
                "$.at: \"2026-03-04 15:55\" is not an RFC 3339 date-time",
                "$.id: \"123a08d7ab9b460db9cbd6ed64b3a018\" is not a hyphenated UUID"
            ]
        );
        let errors = check(json!({"id": ID, "parent": {"id": ID, "stock": 3_000_000_000_u64}}));
        assert!(
            errors.contains(&"$.parent.stock: 3000000000 does not fit the format int32".into()),
            "{errors:?}"
        );
    }

    #[test]
    fn bounds_are_checked() {
        let errors = check(json!({
            "id": ID,
            "stock": -1,
            "weight": 0,
            "price": {"amount": "", "currency": "PLN"},
            "tags": ["a", "b", "c"],
            "labels": {"a": 1, "b": 2, "c": 3}
        }));
        assert_eq!(
            errors,
            [
                "$.labels: 3 fields, more than maxProperties 2",
                "$.price.amount: 0 characters, fewer than minLength 1",
                "$.stock: -1 is below the minimum 0",
                "$.tags: 3 items, more than maxItems 2",
                "$.weight: 0 is below the minimum 0"
            ]
        );
        let errors = check(
            json!({"id": ID, "stock": 1001, "price": {"amount": "123456789", "currency": "PLN"}}),
        );
        assert_eq!(
            errors,
            [
                "$.price.amount: 9 characters, more than maxLength 8",
                "$.stock: 1001 is above the maximum 1000"
            ]
        );
        let batch = RequestSchemas::check_request_body(
            &schemas(),
            "POST",
            "/offers/batch",
            "application/json",
            &json!([]),
        );
        assert_eq!(batch, Err(vec!["$: 0 items, fewer than minItems 1".into()]));
    }

    #[test]
    fn additional_properties_schemas_check_every_other_field() {
        let errors = check(json!({"id": ID, "labels": {"a": "one"}}));
        assert_eq!(errors, ["$.labels.a: expected integer, got \"one\""]);
    }

    #[test]
    fn one_of_needs_a_matching_alternative() {
        // The discriminator picks the branch, so its errors are exact, and the properties of the
        // schema around the alternatives (`note`) are known to each.
        let errors =
            check(json!({"id": ID, "delivery": {"kind": "COURIER", "point": "P1", "note": "x"}}));
        assert_eq!(
            errors,
            [
                "$.delivery.point: not in the spec's schema",
                "$.delivery.waybill: required by the spec, missing"
            ]
        );
        // Without a mapped tag every alternative is tried, and one passing is enough.
        let errors = check(json!({"id": ID, "delivery": {"kind": "DRONE", "point": "P1"}}));
        assert_eq!(errors, Vec::<String>::new());
        // None passing: the closest one's errors follow.
        let errors = check(json!({"id": ID, "delivery": {"point": "P1"}}));
        assert_eq!(
            errors,
            [
                "$.delivery.kind: required by the spec, missing",
                "$.delivery: matches none of the 2 alternatives of oneOf; the closest fails with:"
            ]
        );
    }

    #[test]
    fn a_discriminated_base_is_checked_as_its_subtype() {
        let errors = check(
            json!({"id": ID, "change": {"type": "FIXED", "value": "3", "market": 1, "x": 1}}),
        );
        assert_eq!(
            errors,
            [
                "$.change.market: expected string, got 1",
                "$.change.value: expected integer, got \"3\"",
                "$.change.x: not in the spec's schema"
            ]
        );
        assert_eq!(
            check(json!({"id": ID, "change": {"type": "FIXED"}})),
            ["$.change.value: required by the spec, missing"]
        );
        // A tag the mapping does not name: the base alone, which knows no `value`.
        assert_eq!(
            check(json!({"id": ID, "change": {"type": "GAIN", "value": 3}})),
            ["$.change.value: not in the spec's schema"]
        );
    }

    #[test]
    fn any_of_needs_a_matching_alternative() {
        // Each alternative fails twice; the first of the closest is reported.
        let errors = check(json!({"id": ID, "contact": {"fax": "1"}}));
        assert_eq!(
            errors,
            [
                "$.contact.email: required by the spec, missing",
                "$.contact.fax: not in the spec's schema",
                "$.contact: matches none of the 2 alternatives of anyOf; the closest fails with:"
            ]
        );
        assert_eq!(
            check(json!({"id": ID, "contact": {"email": "a@b"}})),
            Vec::<String>::new()
        );
    }

    #[test]
    fn recursive_schemas_are_followed_into_the_value_and_cycles_stop() {
        let errors = check(json!({"id": ID, "parent": {"id": ID, "parent": {"id": 1}}}));
        assert_eq!(errors, ["$.parent.parent.id: expected string, got 1"]);
        let looping = RequestSchemas::from_json(json!({
            "components": {"schemas": {
                "A": {"allOf": [{"$ref": "#/components/schemas/B"}], "properties": {"a": {"type": "string"}}},
                "B": {"allOf": [{"$ref": "#/components/schemas/A"}], "required": ["b"]}
            }}
        }));
        let errors = looping
            .check_value(&json!({"$ref": "#/components/schemas/A"}), &json!({"a": 1}))
            .unwrap_err();
        assert_eq!(
            errors,
            [
                "$.a: expected string, got 1",
                "$.b: required by the spec, missing"
            ]
        );
    }

    #[test]
    fn requests_are_checked_as_sent() {
        let s = schemas();
        let body = br#"{"id": "123a08d7-ab9b-460d-b9cb-d6ed64b3a018", "stok": 1}"#;
        assert_eq!(
            s.check_request("put", "/offers/7", Some(MEDIA), body),
            Err(vec!["$.stok: not in the spec's schema".into()])
        );
        assert_eq!(
            s.check_request("PUT", "/offers/7", Some(MEDIA), &body[..body.len() - 11])
                .map_err(|e| e.len()),
            Err(1),
            "not JSON"
        );
        assert_eq!(
            s.check_request(
                "PUT",
                "/offers/7",
                Some(MEDIA),
                br#"{"id": "123a08d7-ab9b-460d-b9cb-d6ed64b3a018"}"#
            ),
            Ok("PUT /offers/{offerId}".into())
        );
        // No body: fine where the spec has none or does not require one.
        assert_eq!(
            s.check_request("POST", "/nobody", None, b""),
            Ok("POST /nobody".into())
        );
        assert_eq!(
            s.check_request("PUT", "/offers/7", None, b""),
            Ok("PUT /offers/{offerId}".into())
        );
        assert_eq!(
            s.check_request("POST", "/needed", None, b""),
            Err(vec![
                "POST /needed: the spec requires a body, none sent".into()
            ])
        );
        // A body where the spec has none, an unknown operation, an unknown path.
        assert!(
            s.check_request("POST", "/nobody", Some("application/json"), b"{}")
                .is_err()
        );
        assert_eq!(
            s.check_request("DELETE", "/offers/7", None, b""),
            Err(vec![
                "DELETE /offers/{offerId}: no such operation in the spec".into()
            ])
        );
        assert_eq!(
            s.check_request("GET", "/elsewhere", None, b""),
            Err(vec!["GET /elsewhere: no such path in the spec".into()])
        );
    }

    #[test]
    fn operations_and_media_types_are_looked_up() {
        let s = schemas();
        assert_eq!(s.path_template("/offers/batch"), Some("/offers/batch"));
        assert_eq!(s.path_template("/offers/42"), Some("/offers/{offerId}"));
        assert_eq!(s.path_template("/offers/42/x"), None);
        assert_eq!(s.path_template("/offers/"), None);
        // The content type's parameters do not matter; a different media type does.
        let body = json!({"id": ID});
        assert_eq!(
            s.check_request_body(
                "put",
                OFFER,
                "application/vnd.test.v1+json; charset=utf-8",
                &body
            ),
            Ok(())
        );
        assert_eq!(
            s.check_request_body("PUT", OFFER, "application/json", &body),
            Err(vec![
                "the spec has no request-body schema for PUT /offers/{offerId} (application/json)"
                    .into()
            ])
        );
        assert!(s.check_request_body("POST", OFFER, MEDIA, &body).is_err());
        assert!(
            s.check_request_body("POST", "/nobody", MEDIA, &body)
                .is_err()
        );
        // A listed media range covers a type not listed itself; an exact entry wins over it.
        let loose = |ct: &str, body: Value| s.check_request_body("POST", "/loose", ct, &body);
        assert_eq!(
            loose("application/vnd.x+json", json!({"wild": true})),
            Ok(())
        );
        assert_eq!(
            loose("application/vnd.x+json", json!({"text": true})),
            Err(vec!["$.text: not in the spec's schema".into()])
        );
        assert_eq!(loose("text/json", json!({"text": true})), Ok(()));
        assert!(loose("text/plain", json!({})).is_err());
    }

    #[test]
    fn responses_are_checked_by_status_and_content_type() {
        let s = RequestSchemas::from_json(json!({
            "paths": {"/items/{id}": {
                "get": {"responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                    "4XX": {"content": {"application/json": {"schema": {
                        "type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}
                    }}}}
                }},
                "delete": {"responses": {"204": {"description": "gone"}}}
            }},
            "components": {"schemas": {"Item": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": {"type": "integer"}, "note": {"type": "string"}}
            }}}
        }));
        let get = |status: u16, body: &str| {
            s.check_response(
                "GET",
                "/items/7",
                status,
                Some("application/json; charset=utf-8"),
                body.as_bytes(),
            )
        };
        assert_eq!(get(200, r#"{"id": 7}"#), Ok("GET /items/{id} → 200".into()));
        assert_eq!(
            get(200, r#"{"id": 7, "note": null}"#),
            Err(vec![
                "GET /items/{id} → 200: $.note: expected string, got null".into()
            ])
        );
        assert_eq!(
            get(404, r#"{"code": "NotFound"}"#),
            Ok("GET /items/{id} → 404".into())
        );
        assert!(get(404, r#"{"message": "x"}"#).is_err());
        assert_eq!(
            get(500, r#"{"code": "x"}"#),
            Err(vec![
                "GET /items/{id} → 500: the spec lists no such response for the operation".into()
            ])
        );
        assert!(get(200, "").is_err());
        assert!(get(200, "not json").is_err());
        assert!(
            s.check_response("GET", "/items/7", 200, Some("text/html"), b"{}")
                .is_err()
        );
        assert_eq!(
            s.check_response("DELETE", "/items/7", 204, None, b""),
            Ok("DELETE /items/{id} → 204".into())
        );
        assert_eq!(
            s.check_response("DELETE", "/items/7", 204, None, b"{}"),
            Ok("DELETE /items/{id} → 204 (body not described)".into())
        );
        assert!(s.check_response("GET", "/nothing", 200, None, b"").is_err());
    }
}
