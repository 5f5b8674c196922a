//! The `across` programs' encoding, on the host: the requests `across-client` writes
//! are exactly what the code generated from `Echo` encodes, the replies it expects
//! are what the generated server answers, and the later requests are larger than one
//! datagram.

use ethos_typesys::wire;
use system_test_programs::across::{
    Echoer, FURTHER_REQUESTS, GROWTH_PER_REQUEST, request_text, say,
};
use system_test_programs::boot_types::{
    EchoReply, EchoRequest, EchoSay, EchoSayReply, Text, serve_echo,
};

/// Every request of `across-client`, and the probe's, as the generated code writes
/// and answers it.
#[test]
fn say_is_the_generated_encoding_and_the_server_answers_it_unchanged() {
    let texts = (0..=FURTHER_REQUESTS).map(request_text).chain([
        String::from("probe"),
        String::new(),
        String::from("typed ✓"),
    ]);
    for text in texts {
        let request = EchoRequest::Say(EchoSay {
            text: Text(text.clone()),
        });
        assert_eq!(
            say(&text),
            wire::encode(&request).expect("a Say encodes"),
            "{text:?}"
        );
        let reply = EchoReply::Say(EchoSayReply {
            text: Text(text.clone()),
        });
        assert_eq!(say(&text), wire::encode(&reply).expect("a reply encodes"));
        let answered = serve_echo(&mut Echoer, &say(&text)).expect("a Say is answered");
        assert_eq!(answered, say(&text));
    }
}

/// Request 0, the first value `ipc` carries, is `across 0`; request K carries
/// K × 37 bytes more, so request 100 is longer than an Ethernet frame.
#[test]
fn requests_grow_past_one_datagram() {
    assert_eq!(request_text(0), "across 0");
    for index in 1..=FURTHER_REQUESTS {
        let text = request_text(index);
        let prefix = format!("across {index} ");
        assert!(text.starts_with(&prefix));
        assert_eq!(text.len(), prefix.len() + index * GROWTH_PER_REQUEST);
        assert_ne!(text, request_text(index - 1));
    }
    assert!(say(&request_text(FURTHER_REQUESTS)).len() > 1500);
}

/// A value of no method of `Echo`, and a `Say` cut short, do not decode.
#[test]
fn ill_typed_values_do_not_decode() {
    assert!(serve_echo(&mut Echoer, &9u32.to_le_bytes()).is_err());
    let whole = say("across 1");
    assert!(serve_echo(&mut Echoer, &whole[..whole.len() - 1]).is_err());
}
