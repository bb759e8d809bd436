//! One contract, two stores: every primitive behaves the same on Redis and in memory.

use crate::helpers::*;
use std::time::Duration;
use vodgate::store::{Event, MemoryStore, RedisStore, Store};

async fn stores() -> Vec<Store> {
    vec![
        Store::Redis(RedisStore::open(&redis_url(), &random_prefix()).unwrap()),
        Store::Memory(MemoryStore::new()),
    ]
}

#[tokio::test]
async fn values_expire_with_the_ttl_they_were_written_with() {
    for s in stores().await {
        s.set("a", "1", Duration::from_millis(300)).await.unwrap();
        assert_eq!(
            s.get("a").await.unwrap().as_deref(),
            Some("1"),
            "{}",
            s.kind()
        );
        let ttl = s.ttl("a").await.unwrap().unwrap();
        assert!(
            ttl <= Duration::from_millis(300) && ttl > Duration::ZERO,
            "{}",
            s.kind()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(s.get("a").await.unwrap(), None, "{}", s.kind());
        assert_eq!(s.ttl("a").await.unwrap(), None, "{}", s.kind());
    }
}

#[tokio::test]
async fn set_nx_writes_only_once() {
    for s in stores().await {
        assert!(
            s.set_nx("claim", "first", Duration::from_secs(5))
                .await
                .unwrap()
        );
        assert!(
            !s.set_nx("claim", "second", Duration::from_secs(5))
                .await
                .unwrap()
        );
        assert_eq!(
            s.get("claim").await.unwrap().as_deref(),
            Some("first"),
            "{}",
            s.kind()
        );
        // An expired claim can be taken again.
        assert!(
            s.set_nx("short", "x", Duration::from_millis(100))
                .await
                .unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            s.set_nx("short", "y", Duration::from_secs(5))
                .await
                .unwrap(),
            "{}",
            s.kind()
        );
    }
}

#[tokio::test]
async fn take_hands_a_value_to_exactly_one_of_many_concurrent_callers() {
    for s in stores().await {
        s.set("launch", "ent", Duration::from_secs(5))
            .await
            .unwrap();
        let mut tasks = vec![];
        for _ in 0..25 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move { s.take("launch").await.unwrap() }));
        }
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap().is_some());
        }
        assert_eq!(winners, 1, "{}", s.kind());
        assert_eq!(s.get("launch").await.unwrap(), None);
    }
}

#[tokio::test]
async fn mget_reads_several_keys_and_missing_ones_as_none() {
    for s in stores().await {
        s.set("m:{t}:1", "one", Duration::from_secs(5))
            .await
            .unwrap();
        s.set("m:{t}:3", "three", Duration::from_secs(5))
            .await
            .unwrap();
        let got = s.mget(&["m:{t}:1", "m:{t}:2", "m:{t}:3"]).await.unwrap();
        assert_eq!(
            got,
            vec![Some("one".into()), None, Some("three".into())],
            "{}",
            s.kind()
        );
        s.del("m:{t}:1").await.unwrap();
        assert_eq!(s.get("m:{t}:1").await.unwrap(), None);
    }
}

#[tokio::test]
async fn sets_collect_members_and_live_as_long_as_the_longest_ttl() {
    for s in stores().await {
        s.set_add("set", "b", Duration::from_secs(10))
            .await
            .unwrap();
        s.set_add("set", "a", Duration::from_millis(100))
            .await
            .unwrap();
        s.set_add("set", "a", Duration::from_millis(100))
            .await
            .unwrap();
        assert_eq!(
            s.set_members("set").await.unwrap(),
            vec!["a".to_string(), "b".to_string()],
            "{}",
            s.kind()
        );
        let ttl = s.ttl("set").await.unwrap().unwrap();
        assert!(
            ttl > Duration::from_secs(5),
            "a shorter member must not shorten the set ({})",
            s.kind()
        );
        s.set_remove("set", "b").await.unwrap();
        assert_eq!(s.set_members("set").await.unwrap(), vec!["a".to_string()]);
        assert_eq!(s.set_members("none").await.unwrap(), Vec::<String>::new());
    }
}

#[tokio::test]
async fn counters_count_within_a_fixed_window() {
    for s in stores().await {
        let (n1, w1) = s.incr("c", Duration::from_millis(300)).await.unwrap();
        let (n2, w2) = s.incr("c", Duration::from_secs(60)).await.unwrap();
        assert_eq!((n1, n2), (1, 2), "{}", s.kind());
        assert!(
            w1 <= Duration::from_millis(300) && w2 <= w1,
            "the window is not extended ({})",
            s.kind()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            s.incr("c", Duration::from_secs(1)).await.unwrap().0,
            1,
            "{}",
            s.kind()
        );
    }
}

#[tokio::test]
async fn a_counter_gives_one_back_without_going_below_zero_or_outliving_its_window() {
    for s in stores().await {
        s.incr("d", Duration::from_millis(300)).await.unwrap();
        s.incr("d", Duration::from_millis(300)).await.unwrap();
        s.decr("d").await.unwrap();
        let (n, left) = s.incr("d", Duration::from_secs(60)).await.unwrap();
        assert_eq!(n, 2, "{}", s.kind());
        assert!(
            left <= Duration::from_millis(300),
            "window kept ({})",
            s.kind()
        );
        for _ in 0..3 {
            s.decr("d").await.unwrap();
        }
        assert_eq!(
            s.incr("d", Duration::from_secs(60)).await.unwrap().0,
            1,
            "{}",
            s.kind()
        );
        // Gone (or never there): stays gone, so no counter without an expiry is left behind.
        s.decr("never").await.unwrap();
        assert_eq!(s.ttl("never").await.unwrap(), None, "{}", s.kind());
        assert_eq!(s.get("never").await.unwrap(), None, "{}", s.kind());
    }
}

#[tokio::test]
async fn published_events_reach_subscribers() {
    for s in stores().await {
        let mut rx = s.subscribe();
        // The Redis listener announces Resync once its subscription is live.
        if matches!(s, Store::Redis(_)) {
            let first = tokio::time::timeout(Duration::from_secs(3), rx.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(first, Event::Resync);
        }
        s.publish(&Event::Entitlement("ent_x".into()))
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, Event::Entitlement("ent_x".into()), "{}", s.kind());
    }
}

#[tokio::test]
async fn keys_live_under_the_configured_prefix() {
    let prefix = random_prefix();
    let s = RedisStore::open(&redis_url(), &prefix).unwrap();
    s.set("k", "v", Duration::from_secs(5)).await.unwrap();
    let mut c = raw_redis().await;
    let v: Option<String> = redis::cmd("GET")
        .arg(format!("{prefix}k"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}k"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 5000, "TTL written with the value: {ttl}");
}
