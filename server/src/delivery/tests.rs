//! Delivery policy on paused time: a fake fanout, an in-memory store and a
//! recording scheduler, so every step (first push, ack settlement, the retry
//! chain, failure, catch-up, routing loss) is checked without a server, a
//! socket or a wall-clock wait.

use super::testing::{
    ACK_TIMEOUT, ATTEMPTS, Behaviour, Harness, RETRY_BASE, harness, new_notification, settle_tasks,
};
use super::*;
use crate::domain::notification::{SellerId, Seq};
use std::sync::atomic::Ordering::Relaxed;

const ANA: SellerId = SellerId(1);
const BEN: SellerId = SellerId(2);

fn acks(seqs: &[i64]) -> AckSeqs {
    AckSeqs::parse(seqs).expect("valid seqs")
}

/// Starts replaying `count` stored notifications to socket "a", which never
/// answers an ack callback, and lets it run as far as it goes unanswered.
async fn replay_to_a_silent_socket(h: &Harness, count: usize) -> tokio::task::JoinHandle<()> {
    h.store.insert(ANA, count);
    let socket = h.fanout.connect("a", ANA, true, Behaviour::Silent);
    let delivery = h.delivery.clone();
    let replay = tokio::spawn(async move { delivery.catch_up(socket, ANA, Some(Seq(0))).await });
    settle_tasks().await;
    replay
}

/// Waits out one ack window and the check after it (paused time jumps
/// there at once).
async fn ack_window_passes() {
    tokio::time::sleep(ACK_TIMEOUT + unconfirmed::GATHER + Duration::from_millis(1)).await;
    settle_tasks().await;
}

#[tokio::test(start_paused = true)]
async fn an_acknowledged_first_push_schedules_no_retry() {
    let h = harness();
    h.fanout.connect("a", ANA, true, Behaviour::Acks);
    h.delivery.publish(vec![new_notification(ANA, "order")]).await.unwrap();
    settle_tasks().await;

    assert_eq!(h.fanout.received("a"), [1]);
    assert_eq!(h.store.state(ANA, 1), (1, true, false), "attempt 1, received, not failed");
    ack_window_passes().await;
    assert!(h.retries.take().is_empty());
    assert_eq!(h.delivery.counters().acked.load(Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_first_push_schedules_attempt_two_after_the_first_backoff() {
    let h = harness();
    h.fanout.connect("a", ANA, true, Behaviour::Silent);
    h.delivery.publish(vec![new_notification(ANA, "order")]).await.unwrap();
    settle_tasks().await;
    assert!(h.retries.take().is_empty(), "nothing is decided before the ack window ends");

    ack_window_passes().await;
    let jobs = h.retries.take();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let (job, delay) = jobs[0];
    assert_eq!(job, RetryJob::new(ANA, Seq(1), 2));
    assert!(delay >= RETRY_BASE && delay <= RETRY_BASE * 3 / 2, "{delay:?}");
    assert_eq!(h.store.state(ANA, 1), (1, false, false));
}

#[tokio::test(start_paused = true)]
async fn a_seller_without_sockets_gets_attempt_two_after_a_whole_ack_window() {
    let h = harness();
    h.delivery.publish(vec![new_notification(ANA, "order")]).await.unwrap();
    settle_tasks().await;
    assert!(h.retries.take().is_empty(), "a socket on another instance may still acknowledge");

    ack_window_passes().await;
    let jobs = h.retries.take();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let (job, delay) = jobs[0];
    assert_eq!(job, RetryJob::new(ANA, Seq(1), 2));
    assert!(delay >= RETRY_BASE && delay <= RETRY_BASE * 3 / 2, "{delay:?}");
}

#[tokio::test(start_paused = true)]
async fn a_push_acknowledged_on_another_instance_is_not_retried() {
    let h = harness();
    h.fanout.connect("elsewhere", ANA, false, Behaviour::AcksAfter(Duration::from_millis(30)));
    h.delivery.publish(vec![new_notification(ANA, "one"), new_notification(ANA, "two")]).await.unwrap();
    settle_tasks().await;
    assert_eq!(h.fanout.received("elsewhere"), [1, 2], "handed to the other instance");

    ack_window_passes().await;
    assert!(h.retries.take().is_empty(), "its acks are in the shared store");
    assert_eq!(h.store.state(ANA, 1), (1, true, false));
    assert_eq!(h.store.pending_checks(), 1, "one check for the whole window");
}

#[tokio::test(start_paused = true)]
async fn ack_windows_ending_together_are_checked_with_one_query() {
    let h = harness();
    h.fanout.connect("a", ANA, true, Behaviour::Silent);
    for i in 0..50 {
        h.delivery.publish(vec![new_notification(ANA, &format!("n{i}"))]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100) / 50).await;
    }
    h.delivery.acknowledge(ANA, &acks(&[7]), AckDoor::Http).await.unwrap();
    settle_tasks().await;

    ack_window_passes().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    settle_tasks().await;
    let jobs = h.retries.take();
    assert_eq!(jobs.len(), 49, "every unacknowledged one, and only those: {jobs:?}");
    assert!(jobs.iter().all(|(job, _)| job.attempt == 2 && job.seq() != Seq(7)));
    assert!(h.store.pending_checks() <= 6, "{} checks for 50 windows 2 ms apart", h.store.pending_checks());
}

#[tokio::test(start_paused = true)]
async fn a_live_push_waits_out_a_full_buffer() {
    let h = harness();
    h.fanout.connect("a", ANA, true, Behaviour::Acks);
    h.fanout.fill_buffer("a", 3);
    h.delivery.publish(vec![new_notification(ANA, "one"), new_notification(ANA, "two")]).await.unwrap();
    // Pauses of 2, 4 and 8 ms.
    tokio::time::sleep(FULL_BUFFER_PAUSE * 8).await;
    settle_tasks().await;

    assert_eq!(h.fanout.received("a"), [1, 2], "a full buffer is not a gone socket");
    assert!(h.store.state(ANA, 2).1, "acknowledged at once, not a retry later");
    ack_window_passes().await;
    assert!(h.retries.take().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_socket_with_a_full_buffer_does_not_hold_back_the_sellers_other_sockets() {
    let h = harness();
    // "a" comes first in the fake's order: a socket-by-socket loop would
    // reach "b" only once a's buffer had room or the window had passed.
    h.fanout.connect("a", ANA, true, Behaviour::Acks);
    h.fanout.connect("b", ANA, true, Behaviour::Acks);
    h.fanout.fill_buffer("a", usize::MAX);
    h.delivery.publish(vec![new_notification(ANA, "order")]).await.unwrap();
    tokio::time::sleep(FULL_BUFFER_PAUSE * 4).await;
    settle_tasks().await;

    assert_eq!(h.fanout.received("b"), [1], "b has it while a is still full");
    assert!(h.fanout.received("a").is_empty());
    // b's answer is recorded once a's emits end (at the window's end, here).
    ack_window_passes().await;
    assert!(h.store.state(ANA, 1).1);
    assert!(h.retries.take().is_empty(), "acknowledged through b: no retry");
}

#[tokio::test(start_paused = true)]
async fn a_socket_that_drops_before_acking_sends_its_push_to_the_retries_at_once() {
    let h = harness();
    h.fanout.set_routing(false);
    h.fanout.connect("a", ANA, true, Behaviour::Drops);
    h.delivery.publish(vec![new_notification(ANA, "order")]).await.unwrap();
    tokio::time::sleep(unconfirmed::GATHER * 2).await;
    settle_tasks().await;

    let jobs = h.retries.take();
    assert_eq!(jobs.len(), 1, "queued well before the {ACK_TIMEOUT:?} window: {jobs:?}");
    assert_eq!(jobs[0].0, RetryJob::new(ANA, Seq(1), 2));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_socket_here_waits_the_window_for_a_socket_on_another_instance() {
    let h = harness();
    h.fanout.connect("here", ANA, true, Behaviour::Drops);
    h.fanout.connect("there", ANA, false, Behaviour::AcksAfter(ACK_TIMEOUT / 2));
    h.delivery.publish(vec![new_notification(ANA, "order")]).await.unwrap();
    tokio::time::sleep(unconfirmed::GATHER * 2).await;
    settle_tasks().await;
    assert!(h.retries.take().is_empty(), "the other instance's socket still has its window");

    ack_window_passes().await;
    assert!(h.store.state(ANA, 1).1);
    assert!(h.retries.take().is_empty(), "acknowledged there: no retry");
    assert_eq!(h.store.state(ANA, 1).0, 1, "one attempt counted");
}

#[tokio::test(start_paused = true)]
async fn a_socket_that_joins_while_a_push_waits_on_a_full_buffer_still_catches_it_up() {
    let h = harness();
    // Silent: a's push stays in flight while b catches up.
    h.fanout.connect("a", ANA, true, Behaviour::Silent);
    h.fanout.fill_buffer("a", 6);
    let publishing = {
        let delivery = h.delivery.clone();
        tokio::spawn(async move { delivery.publish(vec![new_notification(ANA, "order")]).await })
    };
    // "b" joins after the push listed the seller's sockets, while it waits
    // out a's full buffer: the push will not reach b, so b's catch-up must.
    tokio::time::sleep(FULL_BUFFER_PAUSE * 5).await;
    let b = h.fanout.connect("b", ANA, true, Behaviour::Acks);
    tokio::time::sleep(FULL_BUFFER_PAUSE_MAX * 2).await;
    settle_tasks().await;
    assert_eq!(h.fanout.received("a"), [1]);
    publishing.await.unwrap().unwrap();

    h.delivery.catch_up(b, ANA, Some(Seq(0))).await;
    assert_eq!(h.fanout.received("b"), [1]);
}

#[tokio::test(start_paused = true)]
async fn the_retry_chain_waits_longer_each_step_then_marks_failed() {
    let h = harness();
    h.fanout.connect("a", ANA, true, Behaviour::Silent);
    h.delivery.publish(vec![new_notification(ANA, "order")]).await.unwrap();
    ack_window_passes().await;
    let (mut job, _) = h.retries.take()[0];

    // Attempts 2 and 3: each stores the next step before pushing; the wait
    // after attempt n is the ack window plus base × 2^(n-1), up to half again.
    for attempt in 2..=ATTEMPTS {
        assert_eq!(job.attempt, attempt);
        h.delivery.run_retry(job).await.unwrap();
        let jobs = h.retries.take();
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        let (next, delay) = jobs[0];
        assert_eq!(next, RetryJob::new(ANA, Seq(1), attempt + 1));
        if attempt < ATTEMPTS {
            let step = RETRY_BASE * (1 << (attempt - 1));
            assert!(delay >= ACK_TIMEOUT + step && delay <= ACK_TIMEOUT + step * 3 / 2, "{delay:?}");
        } else {
            assert_eq!(delay, ACK_TIMEOUT, "after the last push only the ack window is left");
        }
        assert_eq!(h.store.state(ANA, 1), (attempt, false, false));
        job = next;
    }
    ack_window_passes().await;
    assert_eq!(h.fanout.received("a"), [1, 1, 1], "exactly RETRY_ATTEMPTS pushes");

    h.delivery.run_retry(job).await.unwrap();
    assert_eq!(h.store.state(ANA, 1), (ATTEMPTS, false, true), "failed");
    assert!(h.retries.take().is_empty(), "nothing follows a failure");
    assert_eq!(h.delivery.counters().failed.load(Relaxed), 1);
    assert_eq!(h.fanout.received("a"), [1, 1, 1], "failing pushes nothing");
}

#[tokio::test(start_paused = true)]
async fn a_late_ack_after_failure_still_records_received() {
    let h = harness();
    h.store.insert(ANA, 1);
    h.delivery.run_retry(RetryJob::new(ANA, Seq(1), ATTEMPTS + 1)).await.unwrap();
    assert_eq!(h.store.state(ANA, 1), (1, false, true));

    let moved = h.delivery.acknowledge(ANA, &acks(&[1]), AckDoor::Http).await.unwrap();
    assert_eq!(moved, 1);
    assert_eq!(h.store.state(ANA, 1), (1, true, true), "received, and the failure stays on record");
    assert_eq!(h.delivery.counters().acked.load(Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn duplicate_jobs_never_push_the_same_attempt_twice() {
    let h = harness();
    h.fanout.connect("a", ANA, true, Behaviour::Silent);
    h.store.insert(ANA, 1);
    let job = RetryJob::new(ANA, Seq(1), 2);

    h.delivery.run_retry(job).await.unwrap();
    h.delivery.run_retry(job).await.unwrap();
    settle_tasks().await;

    assert_eq!(h.fanout.received("a"), [1], "one push for attempt 2");
    assert_eq!(h.retries.take().len(), 1, "one next step");
    assert_eq!(h.delivery.counters().retried.load(Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn a_retry_of_an_acknowledged_notification_pushes_nothing() {
    let h = harness();
    h.fanout.connect("a", ANA, true, Behaviour::Acks);
    h.store.insert(ANA, 1);
    h.delivery.acknowledge(ANA, &acks(&[1]), AckDoor::Event).await.unwrap();

    h.delivery.run_retry(RetryJob::new(ANA, Seq(1), 2)).await.unwrap();
    assert_eq!(h.fanout.received("a"), Vec::<i64>::new());
    assert!(h.retries.take().is_empty());
}

#[tokio::test(start_paused = true)]
async fn catch_up_with_last_seq_replays_everything_after_it_in_order() {
    let h = harness();
    h.store.insert(ANA, 5);
    h.delivery.acknowledge(ANA, &acks(&[4]), AckDoor::Http).await.unwrap();
    let socket = h.fanout.connect("a", ANA, true, Behaviour::Acks);

    h.delivery.catch_up(socket, ANA, Some(Seq(2))).await;
    assert_eq!(h.fanout.received("a"), [3, 4, 5], "after last_seq, received or not: the client asked");
    for seq in 3..=5 {
        assert!(h.store.state(ANA, seq).1, "seq {seq} acknowledged by the replay's acks");
    }
    assert!(!h.store.state(ANA, 1).1, "before last_seq: not sent, not acknowledged");
}

#[tokio::test(start_paused = true)]
async fn catch_up_without_last_seq_sends_only_what_is_pending() {
    let h = harness();
    h.store.insert(ANA, 4);
    h.store.insert(BEN, 2);
    h.delivery.acknowledge(ANA, &acks(&[2]), AckDoor::Http).await.unwrap();
    let socket = h.fanout.connect("a", ANA, true, Behaviour::Acks);

    h.delivery.catch_up(socket, ANA, None).await;
    assert_eq!(h.fanout.received("a"), [1, 3, 4], "pending ones, and only its seller's");
}

#[tokio::test(start_paused = true)]
async fn a_large_backlog_streams_in_order_through_a_full_buffer() {
    let h = harness();
    h.store.insert(ANA, 1_200);
    let socket = h.fanout.connect("a", ANA, true, Behaviour::Acks);
    h.fanout.fill_buffer("a", 5);

    // Bounded: a replay that starves its own ack waits of the store's one
    // connection never ends.
    tokio::time::timeout(Duration::from_secs(3600), h.delivery.catch_up(socket, ANA, Some(Seq(0))))
        .await
        .expect("the replay stalled");
    let expected: Vec<i64> = (1..=1_200).collect();
    assert_eq!(
        h.fanout.received("a"),
        expected,
        "every one, in seq order, once: a full buffer is not a gone socket"
    );
}

#[tokio::test(start_paused = true)]
async fn replay_keeps_at_most_a_window_of_emits_waiting_for_acks() {
    let h = harness();
    let replay = replay_to_a_silent_socket(&h, 100).await;
    assert_eq!(h.fanout.received("a").len(), REPLAY_WINDOW, "the rest waits for acks or their timeout");

    ack_window_passes().await;
    replay.await.unwrap();
    assert_eq!(h.fanout.received("a").len(), 100);
}

#[tokio::test(start_paused = true)]
async fn catch_up_stops_at_once_for_a_socket_that_is_gone() {
    let h = harness();
    h.store.insert(ANA, 3);
    let socket = h.fanout.connect("a", ANA, true, Behaviour::Acks);
    h.fanout.disconnect("a");

    h.delivery.catch_up(socket, ANA, Some(Seq(0))).await;
    assert_eq!(h.fanout.received("a"), Vec::<i64>::new());
    assert_eq!(h.delivery.counters().pushed.load(Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn with_routing_down_only_local_sockets_get_the_push_and_retries_reach_the_others() {
    let h = harness();
    h.fanout.connect("here", ANA, true, Behaviour::Silent);
    h.fanout.connect("elsewhere", ANA, false, Behaviour::Acks);
    h.fanout.set_routing(false);

    h.delivery.publish(vec![new_notification(ANA, "order")]).await.unwrap();
    settle_tasks().await;
    assert_eq!(h.fanout.received("here"), [1], "this instance's socket is not held back by the outage");
    assert_eq!(h.fanout.received("elsewhere"), Vec::<i64>::new());
    ack_window_passes().await;
    let (job, _) = h.retries.take()[0];

    h.fanout.set_routing(true);
    h.delivery.run_retry(job).await.unwrap();
    settle_tasks().await;
    assert_eq!(h.fanout.received("elsewhere"), [1], "the retry crosses instances once routing is back");
    assert!(h.store.state(ANA, 1).1, "received");
}

#[tokio::test(start_paused = true)]
async fn with_routing_down_and_no_local_socket_the_retry_comes_after_a_whole_window() {
    let h = harness();
    h.fanout.connect("elsewhere", ANA, false, Behaviour::Acks);
    h.fanout.set_routing(false);

    h.delivery.publish(vec![new_notification(ANA, "order")]).await.unwrap();
    settle_tasks().await;
    assert_eq!(h.fanout.received("elsewhere"), Vec::<i64>::new());
    assert!(h.retries.take().is_empty());
    ack_window_passes().await;
    let jobs = h.retries.take();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].0, RetryJob::new(ANA, Seq(1), 2));
}

#[tokio::test(start_paused = true)]
async fn every_first_ack_counts_once_whichever_door_and_is_timed_from_its_push() {
    let h = harness();
    h.fanout.connect("a", ANA, true, Behaviour::AcksAfter(Duration::from_millis(50)));
    h.delivery.publish(vec![new_notification(ANA, "order")]).await.unwrap();
    settle_tasks().await;

    // The HTTP ack overtakes the callback.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(h.delivery.acknowledge(ANA, &acks(&[1]), AckDoor::Http).await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    settle_tasks().await;

    assert_eq!(h.delivery.counters().acked.load(Relaxed), 1, "the callback after it moves nothing");
    let histogram = h.delivery.counters().ack_latency.render("ack", "");
    assert!(histogram.contains("ack_count 1\n"), "{histogram}");
    assert!(histogram.contains("ack_sum 0.01\n"), "10 ms from the push: {histogram}");
    ack_window_passes().await;
    assert!(h.retries.take().is_empty(), "acknowledged by the HTTP door: no retry");
}

#[tokio::test(start_paused = true)]
async fn event_acks_count_and_time_like_callbacks() {
    let h = harness();
    h.fanout.connect("a", ANA, true, Behaviour::Silent);
    h.delivery.publish(vec![new_notification(ANA, "one"), new_notification(ANA, "two")]).await.unwrap();
    settle_tasks().await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    let moved = h.delivery.acknowledge(ANA, &acks(&[1, 2, 2, 9]), AckDoor::Event).await.unwrap();
    assert_eq!(moved, 2, "unknown and repeated seqs count nothing");
    let histogram = h.delivery.counters().ack_latency.render("ack", "");
    assert!(histogram.contains("ack_count 2\n"), "{histogram}");
    assert_eq!(h.delivery.acknowledge(ANA, &acks(&[1]), AckDoor::Event).await.unwrap(), 0);
    assert_eq!(h.delivery.counters().acked.load(Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn another_sellers_seqs_acknowledge_nothing() {
    let h = harness();
    h.store.insert(ANA, 1);
    assert_eq!(h.delivery.acknowledge(BEN, &acks(&[1]), AckDoor::Http).await.unwrap(), 0);
    assert!(!h.store.state(ANA, 1).1);
}

#[tokio::test(start_paused = true)]
async fn the_start_up_sweep_schedules_the_next_attempt_of_every_pending_notification() {
    let h = harness();
    // Committed, never pushed: the process died between commit and push.
    h.store.insert(ANA, 3);
    h.delivery.acknowledge(ANA, &acks(&[2]), AckDoor::Http).await.unwrap();

    assert_eq!(sweep::sweep(&h.delivery, Duration::ZERO).await, 2);
    let jobs = h.retries.take();
    let expected =
        [(RetryJob::new(ANA, Seq(1), 2), ACK_TIMEOUT), (RetryJob::new(ANA, Seq(3), 2), ACK_TIMEOUT)];
    assert_eq!(jobs, expected);
}

#[tokio::test(start_paused = true)]
async fn a_catch_up_skips_what_was_pushed_to_the_room_after_the_socket_joined() {
    let h = harness();
    h.store.insert(ANA, 1);
    let socket = h.fanout.connect("a", ANA, true, Behaviour::Silent);
    h.delivery.socket_connected(socket.clone(), ANA, None);
    // A publish racing the connect: pushed to the room the socket is in.
    h.delivery.publish(vec![new_notification(ANA, "racing")]).await.unwrap();
    settle_tasks().await;
    assert_eq!(h.fanout.received("a"), [2]);

    h.delivery.catch_up(socket, ANA, None).await;
    assert_eq!(h.fanout.received("a"), [2, 1], "seq 1 from the catch-up; seq 2 once, by its push");
}

#[tokio::test(start_paused = true)]
async fn a_replay_moves_on_as_the_client_acknowledges_by_event() {
    let h = harness();
    // A client that cannot answer ack callbacks (rust_socketio) acks by event.
    let replay = replay_to_a_silent_socket(&h, 100).await;
    assert_eq!(h.fanout.received("a").len(), REPLAY_WINDOW);

    let window: Vec<i64> = (1..=REPLAY_WINDOW as i64).collect();
    h.delivery.acknowledge(ANA, &acks(&window), AckDoor::Event).await.unwrap();
    settle_tasks().await;
    assert_eq!(h.fanout.received("a").len(), 100, "the rest went out at once, not after the ack timeout");
    let rest: Vec<i64> = (REPLAY_WINDOW as i64 + 1..=100).collect();
    h.delivery.acknowledge(ANA, &acks(&rest), AckDoor::Event).await.unwrap();
    settle_tasks().await;
    assert!(replay.is_finished(), "every wait ended with its event ack");
    assert!(h.retries.take().is_empty());
}

/// A socket of `ANA` on this instance, tracked and caught up from
/// `last_seq` 0, as the gateway connects one.
async fn connect_tracked(h: &Harness, id: &str, behaviour: Behaviour) {
    let socket = h.fanout.connect(id, ANA, true, behaviour);
    h.delivery.socket_connected(socket.clone(), ANA, Some(Seq(0)));
    h.delivery.catch_up(socket, ANA, Some(Seq(0))).await;
}

/// Long enough for a lagging socket to be noticed and sent what it lacks.
async fn reconciled() {
    tokio::time::sleep(RECONCILE_GRACE + RECONCILE_EVERY * 2).await;
    settle_tasks().await;
}

#[tokio::test(start_paused = true)]
async fn a_live_socket_is_sent_what_it_missed_though_another_socket_acknowledged_it() {
    let h = harness();
    connect_tracked(&h, "a", Behaviour::Acks).await;
    // Stored on another instance whose relay never came (Redis was down),
    // and acknowledged by the seller's socket there: nothing retries them.
    h.store.insert(ANA, 2);
    h.store.acknowledge(ANA, &[Seq(1), Seq(2)]).await.unwrap();
    settle_tasks().await;
    assert!(h.fanout.received("a").is_empty());

    reconciled().await;
    assert_eq!(h.fanout.received("a"), [1, 2]);
    assert_eq!(h.delivery.counters().missed_resent.load(Relaxed), 2);
    reconciled().await;
    assert_eq!(h.fanout.received("a"), [1, 2], "sent once");
    assert!(h.retries.take().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_socket_that_got_every_push_is_never_sent_one_again() {
    let h = harness();
    connect_tracked(&h, "a", Behaviour::Acks).await;
    for i in 0..5 {
        h.delivery.publish(vec![new_notification(ANA, &format!("n{i}"))]).await.unwrap();
        tokio::time::sleep(RECONCILE_EVERY / 2).await;
    }
    reconciled().await;
    reconciled().await;
    assert_eq!(h.fanout.received("a"), [1, 2, 3, 4, 5]);
    assert_eq!(h.delivery.counters().missed_resent.load(Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn a_socket_whose_buffer_stayed_full_past_the_window_is_sent_the_push_later() {
    let h = harness();
    connect_tracked(&h, "a", Behaviour::Acks).await;
    connect_tracked(&h, "b", Behaviour::Acks).await;
    // About 160 emits are refused in one window (pauses of up to 64 ms).
    h.fanout.fill_buffer("a", 200);
    h.delivery.publish(vec![new_notification(ANA, "order")]).await.unwrap();
    ack_window_passes().await;
    assert!(h.fanout.received("a").is_empty(), "the live push gave up at the window's end");
    assert!(h.store.state(ANA, 1).1, "acknowledged through b: no retry will come");

    tokio::time::sleep(ACK_TIMEOUT * 2 + RECONCILE_GRACE * 2).await;
    settle_tasks().await;
    assert_eq!(h.fanout.received("a"), [1]);
    assert_eq!(h.fanout.received("b"), [1]);
    assert!(h.retries.take().is_empty());
}

#[tokio::test(start_paused = true)]
async fn handing_over_queues_the_retries_of_pushes_still_in_their_window() {
    let h = harness();
    h.fanout.connect("a", ANA, true, Behaviour::Drops);
    let start = Instant::now();
    h.delivery.publish(vec![new_notification(ANA, "order")]).await.unwrap();
    settle_tasks().await;
    assert!(h.retries.take().is_empty(), "another instance's socket may still acknowledge");

    h.delivery.hand_over().await;
    let jobs = h.retries.take();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].0, RetryJob::new(ANA, Seq(1), 2));
    assert!(start.elapsed() < ACK_TIMEOUT / 2, "{:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn sockets_catching_up_together_each_get_everything() {
    let h = harness();
    h.store.insert(ANA, 3);
    // Both silent: a's replay is still in flight while c's catch-up runs.
    for id in ["a", "c"] {
        let socket = h.fanout.connect(id, ANA, true, Behaviour::Silent);
        h.delivery.socket_connected(socket.clone(), ANA, Some(Seq(0)));
        let delivery = h.delivery.clone();
        tokio::spawn(async move { delivery.catch_up(socket, ANA, Some(Seq(0))).await });
    }
    settle_tasks().await;
    assert_eq!(h.fanout.received("a"), [1, 2, 3]);
    assert_eq!(h.fanout.received("c"), [1, 2, 3], "what went to a is not what c has");
}
