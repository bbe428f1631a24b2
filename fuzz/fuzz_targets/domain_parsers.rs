//! The server's input rules (`server::domain`): arbitrary strings, numbers
//! and JSON into every parser. None may panic; what one accepts obeys the
//! rule it documents, and what it refuses names the field as documented.
#![no_main]

use app::types::{AckBody, Order, OrderItem, SyncBody};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use server::domain::limit::Limit;
use server::domain::notification::{NewNotification, NotificationType, SellerId, parse_data};
use server::domain::order::NewOrder;
use server::domain::seller::{Email, Password, ShopName};
use server::domain::sync::{AckSeqs, DeltaQuery};

/// A number: mostly near the rules' bounds (0, 1, 500, 1 000, 10^8), sometimes anything.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    Small(i16),
    Large(i32),
    Any(i64),
}

impl Num {
    fn get(self) -> i64 {
        match self {
            Self::Small(n) => n.into(),
            Self::Large(n) => n.into(),
            Self::Any(n) => n,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    email: String,
    password: String,
    shop_name: String,
    seller_id: Num,
    kind: String,
    title: String,
    body: String,
    /// `data` as JSON text; not JSON means absent.
    data: String,
    order_id: i64,
    customer_name: String,
    items: Vec<(String, Num, Num)>,
    note: Option<String>,
    after: Option<Num>,
    limit: Option<Num>,
    default_limit: u32,
    seqs: Vec<Num>,
    /// Pads the ack with this many (mod 600) seqs of 1, to cross the 500 cap.
    extra_seqs: u16,
    /// A socket event's body, read as `notifications:sync` and as `notifications:ack`.
    event_body: String,
}

fuzz_target!(|input: Input| {
    seller(&input);
    notification(&input);
    order(&input);
    paging(&input);
});

/// The documented text rule (`bounded_text`): trimmed, `min..=max`
/// characters (not bytes), no control character but `\n` and `\t`.
fn text_rule(value: &str, min: usize, max: usize) -> Option<String> {
    let text = value.trim();
    let length = text.chars().count();
    let clean = !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
    ((min..=max).contains(&length) && clean).then(|| text.to_owned())
}

fn seller(input: &Input) {
    match Email::parse(&input.email) {
        Ok(email) => {
            let e = email.as_str();
            // Kept trimmed and lower-cased...
            assert_eq!(e, input.email.trim().to_lowercase());
            assert!(e.len() <= Email::MAX_LEN);
            let (local, domain) = e.split_once('@').expect("an accepted email has an @");
            assert!(!local.is_empty() && local.len() <= 64);
            assert!(!domain.contains('@') && domain.contains('.') && !domain.contains(".."));
            assert!(!domain.starts_with('.') && !domain.ends_with('.'));
            assert!(!e.chars().any(|c| c.is_whitespace() || c.is_control()));
            // ...so the stored address parses to itself (lower-casing twice
            // is lower-casing once).
            assert_eq!(Email::parse(e), Ok(email.clone()));
        }
        Err(e) => assert_eq!(e.field, "email"),
    }

    // 8 to 128 characters, kept exactly as typed (spaces count).
    let length = input.password.chars().count();
    let fits = (Password::MIN_LEN..=Password::MAX_LEN).contains(&length);
    match Password::parse(&input.password) {
        Ok(password) => assert!(fits && password.expose() == input.password),
        Err(e) => assert!(!fits && e.field == "password"),
    }

    match ShopName::parse(&input.shop_name) {
        Ok(name) => {
            assert_eq!(Some(name.as_str().to_owned()), text_rule(&input.shop_name, 1, ShopName::MAX_LEN));
            assert_eq!(ShopName::parse(name.as_str()), Ok(name.clone()));
        }
        Err(e) => {
            assert_eq!(e.field, "shop_name");
            assert_eq!(text_rule(&input.shop_name, 1, ShopName::MAX_LEN), None);
        }
    }
}

fn notification(input: &Input) {
    let seller_id = input.seller_id.get();
    let data: Option<Value> = serde_json::from_str(&input.data).ok();

    // `type`: 1 to 64 of a-z 0-9 . _ -, a-z first, kept as sent.
    match NotificationType::parse(&input.kind) {
        Ok(kind) => {
            let k = kind.as_str();
            assert_eq!(k, input.kind);
            assert!(!k.is_empty() && k.len() <= NotificationType::MAX_LEN);
            assert!(k.starts_with(|c: char| c.is_ascii_lowercase()));
            assert!(k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)));
        }
        Err(e) => assert_eq!(e.field, "type"),
    }

    // `data`: absent or null → {}; an object of at most 8 KiB, kept as sent.
    let data_size = |map: &Map<String, Value>| serde_json::to_vec(map).expect("a JSON map serialises").len();
    match (parse_data(data.clone()), &data) {
        (Ok(map), None | Some(Value::Null)) => assert!(map.is_empty()),
        (Ok(map), Some(Value::Object(sent))) => {
            assert_eq!(&map, sent);
            assert!(data_size(&map) <= NewNotification::DATA_MAX_BYTES);
        }
        (Ok(_), Some(other)) => panic!("accepted non-object data {other}"),
        (Err(e), sent) => {
            assert_eq!(e.field, "data");
            match sent {
                None | Some(Value::Null) => panic!("refused absent data"),
                Some(Value::Object(map)) => assert!(data_size(map) > NewNotification::DATA_MAX_BYTES),
                Some(_) => {}
            }
        }
    }

    let title = text_rule(&input.title, 1, NewNotification::TITLE_MAX);
    let body = text_rule(&input.body, 1, NewNotification::BODY_MAX);
    match NewNotification::parse(seller_id, &input.kind, &input.title, &input.body, data.clone()) {
        Ok(n) => {
            assert!(seller_id >= 1 && n.seller_id == SellerId(seller_id));
            assert_eq!(Ok(n.kind.clone()), NotificationType::parse(&input.kind));
            assert_eq!((Some(n.title.clone()), Some(n.body.clone())), (title, body));
            assert_eq!(Ok(n.data.clone()), parse_data(data));
        }
        // The first broken rule, in the order the fields are checked.
        Err(e) => {
            let first = if seller_id < 1 {
                "seller_id"
            } else if NotificationType::parse(&input.kind).is_err() {
                "type"
            } else if title.is_none() {
                "title"
            } else if body.is_none() {
                "body"
            } else {
                "data"
            };
            assert_eq!(e.field, first);
        }
    }
}

fn order(input: &Input) {
    let items: Vec<OrderItem> = input
        .items
        .iter()
        .map(|(name, quantity, price)| OrderItem {
            name: name.clone(),
            quantity: quantity.get(),
            unit_price_cents: price.get(),
        })
        .collect();
    let order = match NewOrder::parse(&input.customer_name, &items, input.note.as_deref()) {
        Ok(order) => order,
        Err(e) => {
            let field = e.field.as_str();
            assert!(
                matches!(field, "customer_name" | "items" | "note") || field.starts_with("items["),
                "{e}"
            );
            return;
        }
    };
    assert_eq!(
        Some(order.customer_name.clone()),
        text_rule(&input.customer_name, 1, NewOrder::CUSTOMER_NAME_MAX)
    );
    assert!((1..=NewOrder::ITEMS_MAX).contains(&order.items.len()) && order.items.len() == items.len());
    let mut total = 0_i128;
    for (kept, sent) in order.items.iter().zip(&items) {
        assert_eq!(Some(kept.name.clone()), text_rule(&sent.name, 1, NewOrder::ITEM_NAME_MAX));
        assert_eq!((kept.quantity, kept.unit_price_cents), (sent.quantity, sent.unit_price_cents));
        assert!((1..=NewOrder::QUANTITY_MAX).contains(&kept.quantity));
        assert!((0..=NewOrder::UNIT_PRICE_MAX_CENTS).contains(&kept.unit_price_cents));
        total += i128::from(kept.quantity) * i128::from(kept.unit_price_cents);
    }
    // The total is exact: the bounds keep it far from overflowing.
    assert_eq!(i128::from(order.total_cents), total);
    // A blank note is no note; any other is a checked text.
    match input.note.as_deref().filter(|note| !note.trim().is_empty()) {
        None => assert_eq!(order.note, None),
        Some(note) => assert_eq!(order.note, text_rule(note, 1, NewOrder::NOTE_MAX)),
    }

    // The notification the server writes for a valid order passes the rules
    // it holds publishers to, unchanged.
    let seller_id = input.seller_id.get().max(1);
    let stored = Order {
        id: input.order_id,
        seller_id,
        customer_name: order.customer_name,
        items: order.items,
        note: order.note,
        total_cents: order.total_cents,
        created_at: "2026-01-01T00:00:00Z".into(),
    };
    let n = NewNotification::order_created(&stored);
    let reparsed = NewNotification::parse(
        seller_id,
        n.kind.as_str(),
        &n.title,
        &n.body,
        Some(Value::Object(n.data.clone())),
    );
    assert_eq!(reparsed, Ok(n));
}

fn paging(input: &Input) {
    let after = input.after.map(Num::get);
    let limit = input.limit.map(Num::get);

    // Absent → the default (at most 500); below 1 refused; else clamped to 500.
    match Limit::parse(limit, input.default_limit) {
        Ok(l) => {
            let expected = limit.unwrap_or(i64::from(input.default_limit)).min(i64::from(Limit::MAX));
            assert_eq!(i64::from(l.get()), expected);
        }
        Err(e) => assert!(e.field == "limit" && limit.is_some_and(|n| n < 1)),
    }

    // `after` 0 or more (default 0), checked before `limit` (default 100).
    match DeltaQuery::parse(after, limit) {
        Ok(query) => {
            assert_eq!(query.after.0, after.unwrap_or(0));
            assert!(query.after.0 >= 0 && (1..=Limit::MAX).contains(&query.limit.get()));
            assert_eq!(Ok(query.limit), Limit::parse(limit, DeltaQuery::DEFAULT_LIMIT));
        }
        Err(e) => assert_eq!(e.field, if after.is_some_and(|a| a < 0) { "after" } else { "limit" }),
    }

    // 1 to 500 seqs, each 1 or more, kept in order; else the count's or
    // the first bad seq's field.
    let mut seqs: Vec<i64> = input.seqs.iter().map(|n| n.get()).collect();
    seqs.extend(std::iter::repeat_n(1, usize::from(input.extra_seqs % 600)));
    match AckSeqs::parse(&seqs) {
        Ok(acked) => {
            assert!((1..=AckSeqs::MAX).contains(&seqs.len()));
            assert!(acked.as_slice().iter().map(|s| s.0).eq(seqs.iter().copied()));
            assert!(seqs.iter().all(|&s| s >= 1));
        }
        Err(e) if seqs.is_empty() || seqs.len() > AckSeqs::MAX => assert_eq!(e.field, "seqs"),
        Err(e) => {
            let first_bad = seqs.iter().position(|&s| s < 1).expect("refused only for a bad seq");
            assert_eq!(e.field, format!("seqs[{first_bad}]"));
        }
    }

    // The socket's bodies go through the very same rules.
    if let Ok(body) = serde_json::from_str::<SyncBody>(&input.event_body) {
        assert_eq!(DeltaQuery::try_from(body), DeltaQuery::parse(body.after, body.limit));
    }
    if let Ok(body) = serde_json::from_str::<AckBody>(&input.event_body) {
        assert_eq!(AckSeqs::parse(&body.seqs), AckSeqs::try_from(body));
    }
}
