//! Callbacks: a waiting customer's place is kept, a scheduled callback waits for its time,
//! attempts retry until the queue's limit, and the statistics keep callbacks apart.

use super::error::ErrorClass;
use super::tests::Floor;
use super::*;

fn ask(f: &mut Floor, id: ContactId, request: CallbackRequest) -> Result<Applied, CoreError> {
    f.apply(Command::RequestCallback {
        contact: id,
        request,
    })
}

fn attempt(f: &mut Floor, id: ContactId, result: AttemptResult) -> Result<Applied, CoreError> {
    let agent = f.holder(id).expect("held");
    f.apply(Command::CallbackAttempt {
        contact: id,
        agent,
        result,
        attempt: 0,
    })
}

/// `agent` reports call `attempt` (0: the current one) of contact `id`.
fn report(
    f: &mut Floor,
    id: ContactId,
    agent: &str,
    result: AttemptResult,
    attempt: u32,
) -> Result<Applied, CoreError> {
    f.apply(Command::CallbackAttempt {
        contact: id,
        agent: agent.into(),
        result,
        attempt,
    })
}

fn counters(f: &Floor, queue: &str) -> stats::QueueCounters {
    f.engine.queue_counters(queue).unwrap().0.clone()
}

/// `sales` (retry after 60 s, 2 attempts), and `vic`, who can take one call at a time, on a
/// break.
fn floor() -> Floor {
    let mut f = Floor::new();
    f.queue("sales", |q| {
        q.callback_attempts = 2;
        q.callback_retry_secs = 60;
        q.max_wait_secs = 600;
    });
    f.agent("vic", &[]);
    f.presence("vic", Presence::NotReady("break".into()));
    f
}

/// [`floor`] with a callback asked for while vic was at lunch, then offered to vic and accepted:
/// vic is on the call.
fn callback_held_by_vic() -> (Floor, ContactId) {
    let mut f = floor();
    f.presence("vic", Presence::Ready);
    f.presence("vic", Presence::NotReady("lunch".into()));
    let id = f.enqueue("sales", Channel::Voice);
    ask(&mut f, id, CallbackRequest::default()).unwrap();
    f.presence("vic", Presence::Ready);
    f.accept(id);
    (f, id)
}

#[test]
fn a_callback_keeps_its_place_behind_older_contacts_and_ahead_of_newer_ones() {
    let mut f = floor();
    let older = f.enqueue("sales", Channel::Voice);
    f.wait(5.0);
    let caller = f.enqueue("sales", Channel::Voice);
    f.wait(5.0);
    let newer = f.enqueue("sales", Channel::Voice);
    f.wait(20.0);
    let Applied::Contact(view) = ask(&mut f, caller, CallbackRequest::default()).unwrap() else {
        panic!("a contact")
    };
    assert_eq!(view.channel, Channel::Callback);
    assert_eq!(view.callback.as_ref().unwrap().channel, Channel::Voice);
    assert_eq!(view.queued_at + 30_000 - 5_000, f.now, "its place is kept");
    assert_eq!(f.engine.queue_position(caller).unwrap().0, 2);
    f.presence("vic", Presence::Ready);
    let mut served = Vec::new();
    for _ in 0..3 {
        let next = [older, caller, newer]
            .into_iter()
            .find(|id| f.holder(*id).is_some())
            .unwrap();
        served.push(next);
        f.accept(next);
        f.complete(next);
    }
    assert_eq!(served, [older, caller, newer]);
    let c = counters(&f, "sales");
    assert_eq!(
        (c.answered, c.callbacks_requested, c.callbacks_reached),
        (2, 1, 1)
    );
}

#[test]
fn a_scheduled_callback_is_not_offered_before_its_time_and_leaves_the_maximum_wait() {
    let mut f = floor();
    f.presence("vic", Presence::Ready);
    f.presence("vic", Presence::NotReady("lunch".into()));
    let id = f.enqueue("sales", Channel::Voice);
    let at = f.now + 3_600_000;
    ask(
        &mut f,
        id,
        CallbackRequest {
            not_before: Some(at),
            window_end: None,
            number: "+3312345678".into(),
        },
    )
    .unwrap();
    f.presence("vic", Presence::Ready);
    assert_eq!(f.state(id), ContactState::Waiting, "held until its time");
    assert_eq!(f.engine.queue_position(id), None, "no place while held");
    assert_eq!(f.engine.contact_view(id).unwrap().held_until, at);
    // Its queue's 600 s maximum wait no longer applies: the customer is off the line.
    f.wait(3599.0);
    assert_eq!(f.state(id), ContactState::Waiting);
    f.wait(1.0);
    assert_eq!(f.holder(id).as_deref(), Some("vic"));
    assert_eq!(f.decisions().last().unwrap().trigger, Trigger::CallbackDue);
}

#[test]
fn failed_attempts_retry_after_the_delay_then_end_unreached() {
    let (mut f, id) = callback_held_by_vic();
    let Applied::Contact(view) = attempt(&mut f, id, AttemptResult::NoAnswer).unwrap() else {
        panic!("a contact")
    };
    assert_eq!(view.state, ContactState::Waiting);
    assert_eq!(view.held_until, f.now + 60_000);
    assert_eq!(f.engine.agent_view("vic").unwrap().load, 0, "vic is free");
    f.wait(59.0);
    assert_eq!(f.state(id), ContactState::Waiting);
    f.wait(1.0);
    f.accept(id);
    attempt(&mut f, id, AttemptResult::Busy).unwrap();
    let view = f.engine.contact_view(id).unwrap();
    assert_eq!(
        view.state,
        ContactState::Unreached,
        "two attempts, the queue's limit"
    );
    let attempts: Vec<AttemptResult> = view
        .callback
        .unwrap()
        .attempts
        .iter()
        .map(|a| a.result)
        .collect();
    assert_eq!(attempts, [AttemptResult::NoAnswer, AttemptResult::Busy]);
    let c = counters(&f, "sales");
    assert_eq!((c.callbacks_unreached, c.answered, c.abandoned), (1, 0, 0));
    assert_eq!(f.engine.agent_view("vic").unwrap().load, 0);
}

#[test]
fn a_reached_callback_goes_on_and_is_completed() {
    let (mut f, id) = callback_held_by_vic();
    attempt(&mut f, id, AttemptResult::Reached).unwrap();
    assert!(matches!(f.state(id), ContactState::Assigned { .. }));
    f.complete(id);
    assert_eq!(counters(&f, "sales").callbacks_reached, 1);
}

#[test]
fn a_callback_still_waiting_when_its_window_closes_ends_unreached() {
    let mut f = floor();
    let id = f.enqueue("sales", Channel::Voice);
    let window_end = f.now + 120_000;
    ask(
        &mut f,
        id,
        CallbackRequest {
            not_before: None,
            window_end: Some(window_end),
            number: String::new(),
        },
    )
    .unwrap();
    f.wait(120.0);
    assert_eq!(f.state(id), ContactState::Unreached);
    assert_eq!(counters(&f, "sales").callbacks_unreached, 1);
}

#[test]
fn bad_callback_requests_and_reports_are_refused_and_change_nothing() {
    let mut f = floor();
    f.queue("voice-only", |q| q.channels = vec![Channel::Voice]);
    let id = f.enqueue("sales", Channel::Voice);
    let narrow = f.enqueue("voice-only", Channel::Voice);
    let before = f.engine.image();
    let past = CallbackRequest {
        not_before: Some(f.now - 1),
        ..CallbackRequest::default()
    };
    let err = ask(&mut f, id, past).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Invalid);
    assert!(err.to_string().contains("past"), "{err}");
    let closed_window = CallbackRequest {
        not_before: Some(f.now + 10_000),
        window_end: Some(f.now + 5_000),
        number: String::new(),
    };
    assert_eq!(
        ask(&mut f, id, closed_window).unwrap_err().class(),
        ErrorClass::Invalid
    );
    let long_number = CallbackRequest {
        number: "9".repeat(65),
        ..CallbackRequest::default()
    };
    assert_eq!(
        ask(&mut f, id, long_number).unwrap_err().class(),
        ErrorClass::Invalid
    );
    let err = ask(&mut f, narrow, CallbackRequest::default()).unwrap_err();
    assert!(err.to_string().contains("callback"), "{err}");
    assert_eq!(
        ask(&mut f, 999, CallbackRequest::default())
            .unwrap_err()
            .class(),
        ErrorClass::NotFound
    );
    assert_eq!(f.engine.image(), before, "refusals change nothing");
    f.apply(Command::Cancel {
        contact: narrow,
        reason: CancelReason::Withdrawn,
    })
    .unwrap();

    ask(&mut f, id, CallbackRequest::default()).unwrap();
    let err = ask(&mut f, id, CallbackRequest::default()).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Precondition, "already a callback");
    f.presence("vic", Presence::Ready);
    let other = f.enqueue("sales", Channel::Voice);
    f.accept(id);
    let before = f.engine.image();
    let by_another = report(&mut f, id, "nobody", AttemptResult::Busy, 0).unwrap_err();
    assert_eq!(by_another.class(), ErrorClass::NotFound);
    let waiting = report(&mut f, other, "vic", AttemptResult::Busy, 0).unwrap_err();
    assert_eq!(waiting.class(), ErrorClass::Precondition, "not assigned");
    assert_eq!(f.engine.image(), before);
    f.complete(id);
    f.accept(other);
    let not_callback = attempt(&mut f, other, AttemptResult::Reached).unwrap_err();
    assert_eq!(not_callback.class(), ErrorClass::Precondition);
}

#[test]
fn a_cancelled_callback_counts_as_withdrawn_not_abandoned() {
    let mut f = floor();
    let id = f.enqueue("sales", Channel::Voice);
    ask(&mut f, id, CallbackRequest::default()).unwrap();
    f.apply(Command::Cancel {
        contact: id,
        reason: CancelReason::Abandoned,
    })
    .unwrap();
    assert_eq!(f.state(id), ContactState::Cancelled);
    let c = counters(&f, "sales");
    assert_eq!((c.withdrawn, c.abandoned), (1, 0));
}

#[test]
fn a_callback_transferred_to_another_queue_keeps_no_maximum_wait() {
    let mut f = floor();
    f.queue("billing", |q| q.max_wait_secs = 60);
    let id = f.enqueue("sales", Channel::Voice);
    ask(&mut f, id, CallbackRequest::default()).unwrap();
    f.presence("vic", Presence::Ready);
    f.accept(id);
    f.apply(Command::Transfer {
        to_agent: None,
        contact: id,
        agent: "vic".into(),
        queue: "billing".into(),
        required_skills: vec![],
        reason: "billing question".into(),
    })
    .unwrap();
    f.presence("vic", Presence::NotReady("break".into()));
    f.wait(120.0);
    assert_eq!(&*f.engine.contact_view(id).unwrap().queue, "billing");
    assert_eq!(
        f.state(id),
        ContactState::Waiting,
        "off the line: it does not expire"
    );
}

/// A frontend that lost the answer to its attempt report sends it again: the repeat answers the
/// contact as it is and changes nothing — after a failure that put it back to wait, after a
/// reached call, and after the last failure ended it. A report by another agent is still refused.
#[test]
fn a_repeated_attempt_report_answers_the_same_and_changes_nothing() {
    let (mut f, id) = callback_held_by_vic();
    let first = report(&mut f, id, "vic", AttemptResult::NoAnswer, 0).unwrap();
    let (image, events) = (f.engine.image(), f.events.len());
    let again = report(&mut f, id, "vic", AttemptResult::NoAnswer, 0).unwrap();
    assert_eq!(again, first, "the same answer");
    assert_eq!(f.engine.image(), image, "nothing changed");
    assert_eq!(f.events.len(), events, "nothing published");
    // Another result, or another agent, is not a repeat: refused as before.
    let other_result = report(&mut f, id, "vic", AttemptResult::Busy, 0).unwrap_err();
    assert_eq!(other_result.class(), ErrorClass::Precondition);
    f.agent("wes", &[]);
    f.presence("wes", Presence::NotReady("break".into()));
    let by_wes = report(&mut f, id, "wes", AttemptResult::NoAnswer, 0).unwrap_err();
    assert_eq!(by_wes.class(), ErrorClass::Precondition);
    // The retry reaches the customer; reported twice, it is one attempt.
    f.wait(60.0);
    f.accept(id);
    report(&mut f, id, "vic", AttemptResult::Reached, 0).unwrap();
    let image = f.engine.image();
    report(&mut f, id, "vic", AttemptResult::Reached, 0).unwrap();
    assert_eq!(f.engine.image(), image);
    let attempts = |f: &Floor| {
        f.engine
            .contact_view(id)
            .unwrap()
            .callback
            .unwrap()
            .attempts
            .len()
    };
    assert_eq!(attempts(&f), 2);
    f.complete(id);
    assert_eq!(counters(&f, "sales").callbacks_reached, 1);
    // The last failure ends a callback unreached; its repeat answers the ended contact.
    f.presence("vic", Presence::NotReady("lunch".into()));
    let last = f.enqueue("sales", Channel::Voice);
    ask(&mut f, last, CallbackRequest::default()).unwrap();
    f.presence("vic", Presence::Ready);
    for _ in 0..2 {
        f.accept(last);
        attempt(&mut f, last, AttemptResult::Busy).unwrap();
        f.wait(60.0);
    }
    assert_eq!(f.state(last), ContactState::Unreached);
    let Applied::Contact(view) = report(&mut f, last, "vic", AttemptResult::Busy, 0).unwrap()
    else {
        panic!("a contact")
    };
    assert_eq!(view.state, ContactState::Unreached);
    assert_eq!(counters(&f, "sales").callbacks_unreached, 1);
}

/// A report that names its call is told from a repeat exactly. The late repeat of a failed
/// call, arriving after the same agent took the retry, is the case a report without a number
/// cannot tell apart from the retry's own report.
#[test]
fn a_report_naming_its_call_tells_a_late_repeat_from_the_next_call() {
    let (mut f, id) = callback_held_by_vic();
    let mismatch = |e: CoreError| {
        assert!(
            matches!(e, CoreError::AttemptMismatch { contact, .. } if contact == id),
            "{e}"
        );
        assert_eq!(e.class(), ErrorClass::Precondition);
    };
    // Call 2 before call 1 was reported: refused, nothing changes.
    let image = f.engine.image();
    mismatch(report(&mut f, id, "vic", AttemptResult::Busy, 2).unwrap_err());
    assert_eq!(f.engine.image(), image);
    report(&mut f, id, "vic", AttemptResult::NoAnswer, 1).unwrap();
    f.wait(60.0);
    f.accept(id);
    // Vic holds the retry. Call 1's report again: answered with the contact as it is.
    let (image, events) = (f.engine.image(), f.events.len());
    let Applied::Contact(late) = report(&mut f, id, "vic", AttemptResult::NoAnswer, 1).unwrap()
    else {
        panic!("a contact")
    };
    assert!(matches!(late.state, ContactState::Assigned { .. }));
    assert_eq!(late.callback.unwrap().attempts.len(), 1);
    assert_eq!(f.engine.image(), image, "nothing changed");
    assert_eq!(f.events.len(), events, "nothing published");
    // Call 1 with another result, or call 3: refused.
    mismatch(report(&mut f, id, "vic", AttemptResult::Busy, 1).unwrap_err());
    mismatch(report(&mut f, id, "vic", AttemptResult::Busy, 3).unwrap_err());
    assert_eq!(f.engine.image(), image);
    // Call 2 is the retry's report: the queue's last failure ends the callback unreached.
    report(&mut f, id, "vic", AttemptResult::NoAnswer, 2).unwrap();
    assert_eq!(f.state(id), ContactState::Unreached);
    // Both calls' repeats answer the ended contact; a third call was never made.
    for call in [1, 2] {
        let Applied::Contact(view) =
            report(&mut f, id, "vic", AttemptResult::NoAnswer, call).unwrap()
        else {
            panic!("a contact")
        };
        assert_eq!(view.state, ContactState::Unreached);
    }
    mismatch(report(&mut f, id, "vic", AttemptResult::NoAnswer, 3).unwrap_err());
    assert_eq!(counters(&f, "sales").callbacks_unreached, 1);
    // A contact that is no callback is refused as such, with or without a number.
    let plain = f.enqueue("sales", Channel::Voice);
    let e = report(&mut f, plain, "vic", AttemptResult::Reached, 1).unwrap_err();
    assert!(matches!(e, CoreError::NotCallback { .. }), "{e}");
}
