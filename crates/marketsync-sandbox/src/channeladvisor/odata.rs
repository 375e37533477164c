//! The OData v4 subset ChannelAdvisor clients use: resource paths with keys, `$filter`
//! (comparisons, `and`/`or`/`not`, string functions, `any`/`all` lambdas), `$orderby`.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

/// One path segment: `Products(12)`, `ProductLabels(ProductID=1,Name='A')`, `UpdateQuantity`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub(crate) name: String,
    pub(crate) key: Option<Key>,
}

/// A key in parentheses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Key {
    Single(KeyValue),
    Named(Vec<(String, KeyValue)>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeyValue {
    Int(i64),
    Str(String),
}

impl Key {
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Key::Single(KeyValue::Int(i)) => Some(*i),
            _ => None,
        }
    }

    pub(crate) fn string(&self) -> Option<&str> {
        match self {
            Key::Single(KeyValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn named(&self, name: &str) -> Option<&KeyValue> {
        match self {
            Key::Named(v) => v.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Splits a decoded path (`/v1/Products(1)/Labels('a/b')`) into segments, honouring quotes.
pub(crate) fn parse_path(path: &str) -> Option<Vec<Segment>> {
    let mut raw = Vec::new();
    let mut current = String::new();
    let mut in_quote = false;
    for c in path.trim_start_matches('/').chars() {
        match c {
            '\'' => {
                in_quote = !in_quote;
                current.push(c);
            }
            '/' if !in_quote => raw.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    raw.push(current);
    raw.into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| parse_segment(&s))
        .collect()
}

fn parse_segment(s: &str) -> Option<Segment> {
    let Some(open) = s.find('(') else {
        return Some(Segment {
            name: s.to_owned(),
            key: None,
        });
    };
    if !s.ends_with(')') {
        return None;
    }
    let name = s[..open].to_owned();
    let inner = &s[open + 1..s.len() - 1];
    let parts = split_top(inner, ',');
    if parts.len() == 1 && !has_top_eq(&parts[0]) {
        return Some(Segment {
            name,
            key: Some(Key::Single(key_value(parts[0].trim())?)),
        });
    }
    let mut named = Vec::new();
    for p in parts {
        let (k, v) = p.split_once('=')?;
        named.push((k.trim().to_owned(), key_value(v.trim())?));
    }
    Some(Segment {
        name,
        key: Some(Key::Named(named)),
    })
}

fn has_top_eq(s: &str) -> bool {
    let mut in_quote = false;
    for c in s.chars() {
        match c {
            '\'' => in_quote = !in_quote,
            '=' if !in_quote => return true,
            _ => {}
        }
    }
    false
}

fn split_top(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_quote = false;
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '\'' => {
                in_quote = !in_quote;
                current.push(c);
            }
            '(' if !in_quote => {
                depth += 1;
                current.push(c);
            }
            ')' if !in_quote => {
                depth -= 1;
                current.push(c);
            }
            c if c == sep && !in_quote && depth == 0 => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    out.push(current);
    out
}

/// Splits `$select` / `$expand` lists at top-level commas.
pub(crate) fn split_list(s: &str) -> Vec<String> {
    split_top(s, ',')
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

fn key_value(s: &str) -> Option<KeyValue> {
    if let Some(inner) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(KeyValue::Str(inner.replace("''", "'")));
    }
    s.parse().ok().map(KeyValue::Int)
}

// ---------------------------------------------------------------------------------------------
// $filter

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Date(DateTime<Utc>),
    LParen,
    RParen,
    Comma,
    Colon,
    Slash,
}

/// A parsed `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Str(String),
    Num(f64),
    Date(DateTime<Utc>),
    Bool(bool),
    Null,
    Path(Vec<String>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Func(String, Vec<Expr>),
    Lambda {
        path: Vec<String>,
        all: bool,
        var: String,
        body: Box<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// Parses a date or date-time literal (`2024-01-31`, `2024-01-31T00:00:00Z`, with offset).
pub(crate) fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
    }
    None
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push((start, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((start, Tok::RParen));
                i += 1;
            }
            ',' => {
                out.push((start, Tok::Comma));
                i += 1;
            }
            ':' => {
                out.push((start, Tok::Colon));
                i += 1;
            }
            '/' => {
                out.push((start, Tok::Slash));
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!("unterminated string literal at position {start}"));
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push((start, Tok::Str(s)));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit())) =>
            {
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || ".:-+".contains(chars[i]))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let looks_like_date = text.len() >= 10 && text.as_bytes().get(4) == Some(&b'-');
                if looks_like_date {
                    let d = parse_datetime(&text).ok_or_else(|| {
                        format!("invalid date literal '{text}' at position {start}")
                    })?;
                    out.push((start, Tok::Date(d)));
                } else {
                    let n = text
                        .trim_end_matches(['m', 'M', 'd', 'D', 'L', 'l', 'f', 'F'])
                        .parse::<f64>()
                        .map_err(|_| format!("invalid number '{text}' at position {start}"))?;
                    out.push((start, Tok::Num(n)));
                }
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                while i < chars.len() && (chars[i].is_alphanumeric() || "_.$".contains(chars[i])) {
                    i += 1;
                }
                out.push((start, Tok::Ident(chars[start..i].iter().collect())));
            }
            other => {
                return Err(format!(
                    "unexpected character '{other}' at position {start}"
                ));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|(p, _)| *p).unwrap_or(self.len)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == kw)
    }

    fn expect(&mut self, want: &Tok) -> Result<(), String> {
        let at = self.at();
        match self.next() {
            Some(t) if &t == want => Ok(()),
            _ => Err(format!("syntax error at position {at}")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let left = self.operand()?;
        let op = match self.peek() {
            Some(Tok::Ident(s)) => match s.as_str() {
                "eq" => Some(CmpOp::Eq),
                "ne" => Some(CmpOp::Ne),
                "gt" => Some(CmpOp::Gt),
                "ge" => Some(CmpOp::Ge),
                "lt" => Some(CmpOp::Lt),
                "le" => Some(CmpOp::Le),
                _ => None,
            },
            _ => None,
        };
        match op {
            Some(op) => {
                self.pos += 1;
                let right = self.operand()?;
                Ok(Expr::Cmp(op, Box::new(left), Box::new(right)))
            }
            None => Ok(left),
        }
    }

    fn operand(&mut self) -> Result<Expr, String> {
        let at = self.at();
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                self.expect(&Tok::RParen)?;
                Ok(e)
            }
            Some(Tok::Str(s)) => Ok(Expr::Str(s)),
            Some(Tok::Num(n)) => Ok(Expr::Num(n)),
            Some(Tok::Date(d)) => Ok(Expr::Date(d)),
            Some(Tok::Ident(id)) => match id.as_str() {
                "true" => Ok(Expr::Bool(true)),
                "false" => Ok(Expr::Bool(false)),
                "null" => Ok(Expr::Null),
                _ if self.peek() == Some(&Tok::LParen) => {
                    self.pos += 1;
                    let mut args = Vec::new();
                    if self.peek() != Some(&Tok::RParen) {
                        loop {
                            args.push(self.or()?);
                            if self.peek() == Some(&Tok::Comma) {
                                self.pos += 1;
                            } else {
                                break;
                            }
                        }
                    }
                    self.expect(&Tok::RParen)?;
                    Ok(Expr::Func(id.to_ascii_lowercase(), args))
                }
                _ => self.path(id),
            },
            _ => Err(format!("syntax error at position {at}")),
        }
    }

    fn path(&mut self, first: String) -> Result<Expr, String> {
        let mut path = vec![first];
        while self.peek() == Some(&Tok::Slash) {
            self.pos += 1;
            let at = self.at();
            let Some(Tok::Ident(name)) = self.next() else {
                return Err(format!("syntax error at position {at}"));
            };
            let lower = name.to_ascii_lowercase();
            if (lower == "any" || lower == "all") && self.peek() == Some(&Tok::LParen) {
                self.pos += 1;
                let at = self.at();
                let Some(Tok::Ident(var)) = self.next() else {
                    return Err(format!("syntax error at position {at}"));
                };
                self.expect(&Tok::Colon)?;
                let body = self.or()?;
                self.expect(&Tok::RParen)?;
                return Ok(Expr::Lambda {
                    path,
                    all: lower == "all",
                    var,
                    body: Box::new(body),
                });
            }
            path.push(name);
        }
        Ok(Expr::Path(path))
    }
}

/// Parses a `$filter` value.
pub(crate) fn parse_filter(src: &str) -> Result<Expr, String> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        len: src.chars().count(),
    };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!("syntax error at position {}", p.at()));
    }
    Ok(e)
}

impl Expr {
    /// Checks every root property against `known`; returns the first unknown name.
    pub(crate) fn unknown_property(&self, known: &dyn Fn(&str) -> bool) -> Option<String> {
        self.unknown_in(known, &[])
    }

    fn unknown_in(&self, known: &dyn Fn(&str) -> bool, vars: &[&str]) -> Option<String> {
        match self {
            Expr::Path(p) => {
                if vars.contains(&p[0].as_str()) || known(&p[0]) {
                    None
                } else {
                    Some(p[0].clone())
                }
            }
            Expr::Cmp(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => a
                .unknown_in(known, vars)
                .or_else(|| b.unknown_in(known, vars)),
            Expr::Not(a) => a.unknown_in(known, vars),
            Expr::Func(_, args) => args.iter().find_map(|a| a.unknown_in(known, vars)),
            Expr::Lambda {
                path, var, body, ..
            } => {
                if !vars.contains(&path[0].as_str()) && !known(&path[0]) {
                    return Some(path[0].clone());
                }
                let mut inner = vars.to_vec();
                inner.push(var);
                body.unknown_in(known, &inner)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(String),
    Num(f64),
    Date(DateTime<Utc>),
    Bool(bool),
    Null,
    List(Vec<Value>),
    Obj(Value),
}

fn from_json(v: &Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => Val::Num(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Val::Str(s.clone()),
        Value::Array(a) => Val::List(a.clone()),
        Value::Object(_) => Val::Obj(v.clone()),
    }
}

struct Scope<'a> {
    /// A root property's value (`Null` when absent).
    root: &'a dyn Fn(&str) -> Value,
    vars: Vec<(String, Value)>,
}

fn lookup(scope: &Scope<'_>, path: &[String]) -> Val {
    let mut current: Value = match scope.vars.iter().rev().find(|(n, _)| *n == path[0]) {
        Some((_, v)) => v.clone(),
        None => (scope.root)(&path[0]),
    };
    for seg in &path[1..] {
        current = current.get(seg).cloned().unwrap_or(Value::Null);
    }
    from_json(&current)
}

fn eval(e: &Expr, scope: &mut Scope<'_>) -> Result<Val, String> {
    Ok(match e {
        Expr::Str(s) => Val::Str(s.clone()),
        Expr::Num(n) => Val::Num(*n),
        Expr::Date(d) => Val::Date(*d),
        Expr::Bool(b) => Val::Bool(*b),
        Expr::Null => Val::Null,
        Expr::Path(p) => lookup(scope, p),
        Expr::And(a, b) => Val::Bool(truthy(&eval(a, scope)?) && truthy(&eval(b, scope)?)),
        Expr::Or(a, b) => Val::Bool(truthy(&eval(a, scope)?) || truthy(&eval(b, scope)?)),
        Expr::Not(a) => Val::Bool(!truthy(&eval(a, scope)?)),
        Expr::Cmp(op, a, b) => {
            let (a, b) = (eval(a, scope)?, eval(b, scope)?);
            Val::Bool(compare(*op, &a, &b)?)
        }
        Expr::Func(name, args) => {
            let vals = args
                .iter()
                .map(|a| eval(a, scope))
                .collect::<Result<Vec<_>, _>>()?;
            func(name, &vals)?
        }
        Expr::Lambda {
            path,
            all,
            var,
            body,
        } => {
            let items = match lookup(scope, path) {
                Val::List(items) => items,
                Val::Null => Vec::new(),
                _ => return Err(format!("'{}' is not a collection", path.join("/"))),
            };
            let mut result = *all;
            for item in items {
                scope.vars.push((var.clone(), item));
                let hit = truthy(&eval(body, scope)?);
                scope.vars.pop();
                if *all && !hit {
                    result = false;
                    break;
                }
                if !*all && hit {
                    result = true;
                    break;
                }
            }
            Val::Bool(result)
        }
    })
}

fn truthy(v: &Val) -> bool {
    matches!(v, Val::Bool(true))
}

fn func(name: &str, args: &[Val]) -> Result<Val, String> {
    let s = |i: usize| match args.get(i) {
        Some(Val::Str(s)) => Ok(Some(s.clone())),
        Some(Val::Null) => Ok(None),
        _ => Err(format!("function '{name}' expects string arguments")),
    };
    Ok(match (name, args.len()) {
        ("contains", 2) => {
            Val::Bool(matches!((s(0)?, s(1)?), (Some(a), Some(b)) if a.contains(&b)))
        }
        ("startswith", 2) => {
            Val::Bool(matches!((s(0)?, s(1)?), (Some(a), Some(b)) if a.starts_with(&b)))
        }
        ("endswith", 2) => {
            Val::Bool(matches!((s(0)?, s(1)?), (Some(a), Some(b)) if a.ends_with(&b)))
        }
        ("tolower", 1) => s(0)?.map_or(Val::Null, |a| Val::Str(a.to_lowercase())),
        ("toupper", 1) => s(0)?.map_or(Val::Null, |a| Val::Str(a.to_uppercase())),
        _ => {
            return Err(format!(
                "unknown function '{name}' (not supported by the sandbox)"
            ));
        }
    })
}

fn compare(op: CmpOp, a: &Val, b: &Val) -> Result<bool, String> {
    let ord: Option<Ordering> = match (a, b) {
        (Val::Null, Val::Null) => Some(Ordering::Equal),
        (Val::Null, _) | (_, Val::Null) => None,
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Date(x), Val::Date(y)) => Some(x.cmp(y)),
        (Val::Str(x), Val::Date(y)) => Some(
            parse_datetime(x)
                .ok_or("a binary operator with incompatible types was detected")?
                .cmp(y),
        ),
        (Val::Date(x), Val::Str(y)) => Some(x.cmp(
            &parse_datetime(y).ok_or("a binary operator with incompatible types was detected")?,
        )),
        _ => return Err("a binary operator with incompatible types was detected".into()),
    };
    Ok(match (op, ord) {
        (CmpOp::Eq, o) => o == Some(Ordering::Equal),
        (CmpOp::Ne, o) => o != Some(Ordering::Equal),
        (_, None) => false,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
    })
}

/// Whether `entity` (with its navigation collections inlined) matches the filter.
pub(crate) fn matches(expr: &Expr, entity: &Map<String, Value>) -> Result<bool, String> {
    matches_with(expr, &|name| {
        entity.get(name).cloned().unwrap_or(Value::Null)
    })
}

/// Whether the entity whose root properties `property` reads (`Null` when absent) matches
/// the filter: the same as [`matches`] on the entity's map, without building the map.
pub(crate) fn matches_with(expr: &Expr, property: &dyn Fn(&str) -> Value) -> Result<bool, String> {
    let mut scope = Scope {
        root: property,
        vars: Vec::new(),
    };
    eval(expr, &mut scope).map(|v| truthy(&v))
}

/// The SKUs a product filter is limited to, when no product with another `Sku` can match it
/// nor make it fail: the filter is a chain of `and` whose operands, up to a disjunction of
/// `Sku eq '..'` (in either order), only compare `ID` or `ProfileID` with a number or `null`
/// (stored as numbers, these never fail). Evaluation goes left to right and stops at the first
/// false operand of `and`, so for a product whose `Sku` is a string not in the list, or null,
/// the filter is false without an error; a product whose `Sku` is of another type (the
/// comparison fails) must still be evaluated.
pub(crate) fn sku_restriction(expr: &Expr) -> Option<Vec<String>> {
    let mut conjuncts = Vec::new();
    flatten_and(expr, &mut conjuncts);
    for c in conjuncts {
        let mut skus = Vec::new();
        if sku_disjunction(c, &mut skus) {
            return Some(skus);
        }
        if !numeric_id_comparison(c) {
            return None;
        }
    }
    None
}

fn flatten_and<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    match expr {
        Expr::And(a, b) => {
            flatten_and(a, out);
            flatten_and(b, out);
        }
        other => out.push(other),
    }
}

fn is_root(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Path(p) if p.len() == 1 && p[0] == name)
}

fn sku_disjunction(expr: &Expr, skus: &mut Vec<String>) -> bool {
    match expr {
        Expr::Or(a, b) => sku_disjunction(a, skus) && sku_disjunction(b, skus),
        Expr::Cmp(CmpOp::Eq, a, b) => match (a.as_ref(), b.as_ref()) {
            (path, Expr::Str(s)) | (Expr::Str(s), path) if is_root(path, "Sku") => {
                skus.push(s.clone());
                true
            }
            _ => false,
        },
        _ => false,
    }
}

fn numeric_id_comparison(expr: &Expr) -> bool {
    let Expr::Cmp(_, a, b) = expr else {
        return false;
    };
    let id = |e: &Expr| is_root(e, "ID") || is_root(e, "ProfileID");
    let literal = |e: &Expr| matches!(e, Expr::Num(_) | Expr::Null);
    (id(a) && literal(b)) || (literal(a) && id(b))
}

/// Orders JSON values the way `$orderby` does (nulls first).
pub(crate) fn cmp_json(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn paths_with_keys() {
        let p = parse_path("/v1/ProductLabels(ProductID=12,Name='Kid''s, A/B')").unwrap();
        assert_eq!(p[1].name, "ProductLabels");
        let key = p[1].key.as_ref().unwrap();
        assert_eq!(key.named("ProductID"), Some(&KeyValue::Int(12)));
        assert_eq!(key.named("Name"), Some(&KeyValue::Str("Kid's, A/B".into())));
        let p = parse_path("/v1/Products(7)/Labels('x')").unwrap();
        assert_eq!(p[1].key.as_ref().unwrap().int(), Some(7));
        assert_eq!(p[2].key.as_ref().unwrap().string(), Some("x"));
    }

    #[test]
    fn filters() {
        let e = json!({"Sku": "Kid's", "Qty": 3, "D": "2024-02-01T00:00:00Z",
            "Labels": [{"Name": "OfferUp"}], "S": "Unshipped"});
        let e = m(e);
        let t = |f: &str| matches(&parse_filter(f).unwrap(), &e).unwrap();
        assert!(t("Sku eq 'Kid''s'"));
        assert!(!t("Sku eq 'Kids'"));
        assert!(t("Qty gt 2 and Qty le 3"));
        assert!(t("D ge 2024-01-31T00:00:00Z and D lt 2024-02-02"));
        assert!(t("Labels/any(l: l/Name eq 'OfferUp')"));
        assert!(!t("Labels/any(l: l/Name eq 'eBay')"));
        assert!(t("(S eq 'Shipped' or S eq 'Unshipped') and not (Qty eq 4)"));
        assert!(t("startswith(Sku,'Kid')"));
        assert!(parse_filter("Sku eq 'x").is_err());
        assert!(parse_filter("Sku eq").is_err());
    }

    #[test]
    fn sku_restrictions() {
        let r = |f: &str| sku_restriction(&parse_filter(f).unwrap());
        let skus = |v: &[&str]| Some(v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            r("ProfileID eq 1 and (Sku eq 'a' or 'b''c' eq Sku) and Labels/any(l: l/Name eq 'x')"),
            skus(&["a", "b'c"])
        );
        assert_eq!(r("Sku eq 'a'"), skus(&["a"]));
        assert_eq!(
            r("ID gt 3 and ProfileID eq null and Sku eq 'a'"),
            skus(&["a"])
        );
        // Something before the SKUs could fail, or the SKUs do not limit the match.
        assert_eq!(r("Title eq 'x' and Sku eq 'a'"), None);
        assert_eq!(r("ProfileID eq 'x' and Sku eq 'a'"), None);
        assert_eq!(r("Sku eq 'a' or Title eq 'b'"), None);
        assert_eq!(r("not (Sku eq 'a')"), None);
        assert_eq!(r("Sku ne 'a'"), None);
        assert_eq!(r("Sku eq 5"), None);
        assert_eq!(r("ProfileID eq 1"), None);
        // After the SKUs anything may follow: it is not evaluated for other products.
        assert_eq!(r("Sku eq 'a' and Title eq 5"), skus(&["a"]));
    }
}
