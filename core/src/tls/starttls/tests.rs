use super::*;

const OFFER: &[u8] = b"{\"class\":\"starttls\"}\n";
const ACCEPT: &[u8] = b"{\"class\":\"starttls\",\"status\":true}\n";
const DECLINE: &[u8] = b"{\"class\":\"starttls\",\"status\":false}\n";
const CONFIRM: &[u8] = b"{\"class\":\"starttls\",\"starttls\":true}\n";

fn watches() -> (Negotiation, LineWatch, LineWatch) {
    let n = Negotiation::default();
    (n, LineWatch::new(Direction::ClientToServer), LineWatch::new(Direction::ServerToClient))
}

#[test]
fn offer_accept_confirm_switches_just_past_the_confirmation() {
    let (n, mut client, mut server) = watches();
    assert_eq!(server.scan(OFFER, &n), Seen::Nothing);
    assert_eq!(client.scan(ACCEPT, &n), Seen::Nothing);
    let mut read = CONFIRM.to_vec();
    read.extend_from_slice(b"\x16\x03\x01");
    assert_eq!(server.scan(&read, &n), Seen::Switch { at: CONFIRM.len() });
    assert!(n.settled());
}

#[test]
fn lines_split_across_reads_byte_by_byte_are_seen() {
    let (n, mut client, mut server) = watches();
    for (watch, bytes) in [(&mut server, OFFER), (&mut client, ACCEPT)] {
        for b in bytes.chunks(1) {
            assert_eq!(watch.scan(b, &n), Seen::Nothing);
        }
    }
    let (last, head) = CONFIRM.split_last().unwrap();
    for b in head.chunks(1) {
        assert_eq!(server.scan(b, &n), Seen::Nothing);
    }
    assert_eq!(server.scan(&[*last], &n), Seen::Switch { at: 1 });
}

#[test]
fn a_declined_or_ignored_offer_keeps_the_session_plain() {
    for answer in [DECLINE, b"{\"class\":\"login_id\",\"userlogin\":\"u\"}\n".as_slice()] {
        let (n, mut client, mut server) = watches();
        server.scan(OFFER, &n);
        assert_eq!(client.scan(answer, &n), Seen::Declined);
        assert_eq!(server.scan(CONFIRM, &n), Seen::Nothing);
        assert!(n.settled());
    }
}

#[test]
fn no_offer_first_means_no_switch_and_no_more_scanning() {
    let (n, mut client, mut server) = watches();
    server.scan(b"{\"class\":\"login_id\"}\n", &n);
    assert!(n.settled());
    assert_eq!(server.scan(OFFER, &n), Seen::Nothing);
    assert_eq!(client.scan(ACCEPT, &n), Seen::Nothing);
    assert_eq!(server.scan(CONFIRM, &n), Seen::Nothing);
}

#[test]
fn client_lines_before_the_offer_do_not_answer_it() {
    let (n, mut client, mut server) = watches();
    assert_eq!(client.scan(b"{\"class\":\"login_id\"}\n", &n), Seen::Nothing);
    server.scan(OFFER, &n);
    client.scan(ACCEPT, &n);
    assert_eq!(server.scan(CONFIRM, &n), Seen::Switch { at: CONFIRM.len() });
}

#[test]
fn a_refusal_or_an_overlong_line_is_not_a_confirmation() {
    let (n, mut client, mut server) = watches();
    server.scan(OFFER, &n);
    client.scan(ACCEPT, &n);
    let mut long = b"{\"class\":\"starttls\",\"starttls\":true,\"pad\":\"".to_vec();
    long.extend(vec![b'x'; MAX_NEGOTIATION_LINE]);
    long.extend_from_slice(b"\"}\n");
    assert_eq!(server.scan(&long, &n), Seen::Nothing);
    assert!(!n.settled(), "another line may come before the confirmation");
    assert_eq!(server.scan(b"{\"class\":\"starttls\",\"starttls\":false}\n", &n), Seen::Nothing);
    assert!(n.settled());
}

#[test]
fn lines_passed_over_while_the_other_side_speaks_keep_the_next_line_whole() {
    let (n, mut client, mut server) = watches();
    // Client bytes before the offer are not read, but the line they start is finished later.
    assert_eq!(client.scan(b"{\"class\":\"x\"}\n{\"class\":\"star", &n), Seen::Nothing);
    server.scan(OFFER, &n);
    // Server lines while the client has not answered: passed over, the last one unfinished.
    assert_eq!(server.scan(b"{\"class\":\"getlist\"}\n{\"a\":1}", &n), Seen::Nothing);
    assert_eq!(client.scan(b"ttls\",\"status\":true}\n", &n), Seen::Nothing);
    assert!(!n.settled(), "the client's split acceptance was read whole");
    // The unfinished server line ends first: what ends it is not a confirmation on its own.
    let mut read = CONFIRM.to_vec();
    read.extend_from_slice(CONFIRM);
    assert_eq!(server.scan(&read, &n), Seen::Switch { at: read.len() });
    assert!(n.settled());
}
