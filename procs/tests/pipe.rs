//! Cross-process tests of `Pipe`/`Connection`.

use std::{
    os::fd::{AsRawFd, BorrowedFd},
    time::Duration,
};

use coil_procs::{Error, Pipe, Process};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Msg {
    Work { id: u32, payload: Vec<u8> },
    Done,
}

#[test]
fn duplex_round_trips_across_processes() {
    let (mut a, mut b) = Pipe::new(true).unwrap();
    let mut p = Process::new(move || {
        while let Msg::Work { id, payload } = b.recv::<Msg>().unwrap() {
            b.send(&Msg::Work {
                id: id + 1,
                payload,
            })
            .unwrap();
        }
    });
    p.start().unwrap();
    for i in 0..200u32 {
        let payload = vec![i as u8; (i as usize * 37) % 5000];
        a.send(&Msg::Work {
            id: i,
            payload: payload.clone(),
        })
        .unwrap();
        assert_eq!(a.recv::<Msg>().unwrap(), Msg::Work { id: i + 1, payload });
    }
    a.send(&Msg::Done).unwrap();
    p.join(None).unwrap();
    assert_eq!(p.exit_code(), Some(0));
    // The child is gone: end of stream.
    assert_eq!(a.recv::<Msg>(), Err(Error::Disconnected));
}

#[test]
fn one_way_stream_of_many_small_messages_and_a_large_one() {
    let (mut r, mut w) = Pipe::new(false).unwrap();
    let mut p = Process::new(move || {
        for i in 0..100_000u64 {
            w.send(&i).unwrap();
        }
        w.send_bytes(&vec![7u8; 8 << 20]).unwrap();
    });
    p.start().unwrap();
    for i in 0..100_000u64 {
        assert_eq!(r.recv::<u64>().unwrap(), i);
    }
    let big = r.recv_bytes().unwrap();
    assert_eq!(big.len(), 8 << 20);
    assert!(big.iter().all(|&b| b == 7));
    assert_eq!(r.recv_bytes(), Err(Error::Disconnected));
    p.join(None).unwrap();
}

#[test]
fn eof_when_the_other_process_dies() {
    let (mut a, b) = Pipe::new(true).unwrap();
    let mut p = Process::new(move || {
        let _keep = b;
        std::thread::sleep(Duration::from_secs(60));
    });
    p.start().unwrap();
    assert_eq!(
        a.recv_timeout::<u8>(Duration::from_millis(20)),
        Err(Error::Timeout)
    );
    p.kill().unwrap();
    assert_eq!(a.recv::<u8>(), Err(Error::Disconnected));
    assert_eq!(a.send(&1u8), Err(Error::Disconnected));
    p.join(None).unwrap();
}

#[test]
fn timeout_mid_frame_loses_nothing() {
    let (mut a, b) = Pipe::new(false).unwrap();
    // Write a frame header and half the payload by hand into the write end.
    // SAFETY: b is alive for the whole test.
    let bfd = unsafe { BorrowedFd::borrow_raw(b.as_raw_fd()) };
    nix::unistd::write(bfd, &6u32.to_le_bytes()).unwrap();
    nix::unistd::write(bfd, b"abc").unwrap();
    assert_eq!(
        a.recv_bytes_timeout(Duration::from_millis(10)),
        Err(Error::Timeout)
    );
    assert!(a.poll(Some(Duration::ZERO)).unwrap());
    nix::unistd::write(bfd, b"def").unwrap();
    assert_eq!(
        a.recv_bytes_timeout(Duration::from_secs(5)).unwrap(),
        b"abcdef"
    );
}

#[test]
fn size_limits_and_bad_input() {
    let (mut a, mut b) = Pipe::new(true).unwrap();
    b.set_max_message(16);
    // Too large for the receiver: skipped whole, the stream stays in step.
    a.send_bytes(&[1u8; 100]).unwrap();
    a.send_bytes(&[2u8; 3]).unwrap();
    assert_eq!(
        b.recv_bytes(),
        Err(Error::MessageTooLarge { len: 100, max: 16 })
    );
    assert_eq!(b.recv_bytes().unwrap(), [2, 2, 2]);
    // Too large for the sender: nothing sent.
    assert_eq!(
        b.send_bytes(&[0u8; 17]),
        Err(Error::MessageTooLarge { len: 17, max: 16 })
    );
    assert!(!a.poll(Some(Duration::ZERO)).unwrap());
    // Wrong type on the other end.
    a.send(&"a string").unwrap();
    assert!(matches!(b.recv::<Msg>(), Err(Error::Decode(_))));
    a.send(&Msg::Done).unwrap();
    assert_eq!(b.recv::<Msg>().unwrap(), Msg::Done);
    // Direction of a one-way pipe.
    let (mut r, mut w) = Pipe::new(false).unwrap();
    assert_eq!(r.send(&1u8), Err(Error::Closed));
    assert_eq!(w.recv::<u8>(), Err(Error::Closed));
    assert_eq!(w.poll(None), Err(Error::Closed));
}
