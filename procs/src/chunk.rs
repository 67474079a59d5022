//! The pool's chunk wire format: how a chunk of tasks travels to a worker
//! and how its results come back.
//!
//! Both frames open with the chunk id (`u64`, little endian) and the task
//! count (`u32`). Then:
//!
//! - **task frame** (caller → worker): the tasks' postcard encodings back to
//!   back. Postcard needs no lengths: a value's encoding ends where its type
//!   says, so the worker decodes one task after the other from the rest.
//! - **result frame** (worker → caller): a mode byte, then
//!   - [`PACKED`]: every task succeeded; the results' encodings back to back;
//!   - [`TAGGED`]: for each task a tag ([`TAG_OK`], [`TAG_PANIC`],
//!     [`TAG_DECODE`]), a `u32` length and a body: the result's encoding, or
//!     the error message in UTF-8.
//!
//! The worker writes the packed form and switches to the tagged one at the
//! first failed task (rare), so the common case costs one postcard encoding
//! per task and per result and nothing more. A task that does not decode
//! (a type whose `Deserialize` disagrees with its `Serialize`) hides where
//! the next one starts: it and every later task of its chunk fail with
//! [`Error::Decode`]; the other chunks are not touched.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::{Serialize, de::DeserializeOwned};

use crate::{
    codec,
    error::{Error, Result},
    fork,
};

/// Bytes before the tasks of a task frame (and before the mode byte of a
/// result frame): id, count.
pub(crate) const HEAD: usize = 12;
/// Result frame mode: all tasks succeeded, results back to back.
pub(crate) const PACKED: u8 = 0;
/// Result frame mode: one tagged entry per task.
pub(crate) const TAGGED: u8 = 1;
/// Entry tag: the body is the result's encoding.
pub(crate) const TAG_OK: u8 = 0;
/// Entry tag: the task panicked; the body is the panic message.
pub(crate) const TAG_PANIC: u8 = 1;
/// Entry tag: the task or its result did not decode or encode; the body is
/// the message.
pub(crate) const TAG_DECODE: u8 = 2;

fn put_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn get_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The id and task count of a task or result frame.
pub(crate) fn head(frame: &[u8]) -> Option<(u64, u32)> {
    let id = u64::from_le_bytes(frame.get(..8)?.try_into().ok()?);
    Some((id, get_u32(frame, 8)?))
}

/// Start a task frame in `frame` (cleared): id, and a count that
/// [`finish`] fills in.
pub(crate) fn begin(frame: &mut Vec<u8>, id: u64) {
    frame.clear();
    frame.extend_from_slice(&id.to_le_bytes());
    put_u32(frame, 0);
}

/// Append up to `max` tasks from `tasks` to a frame started by [`begin`];
/// returns how many.
///
/// # Errors
///
/// [`Error::Encode`] if a task does not encode (the frame then holds part
/// of it: drop the frame).
pub(crate) fn push_tasks<T: Serialize>(
    frame: &mut Vec<u8>,
    tasks: impl Iterator<Item = T>,
    max: usize,
) -> Result<usize> {
    let mut enc = codec::Encoder::new(frame);
    let mut n = 0;
    for t in tasks.take(max) {
        enc.push(&t)?;
        n += 1;
    }
    Ok(n)
}

/// Write the task count of a frame started by [`begin`].
pub(crate) fn finish(frame: &mut [u8], count: usize) {
    frame[8..HEAD].copy_from_slice(&(count as u32).to_le_bytes());
}

/// Worker side: run every task of the task frame `frame` through `f` and
/// write the result frame to `out` (cleared first). Returns false if the
/// frame has no header (nothing is written then).
pub(crate) fn run<T, R, F>(f: &F, frame: &[u8], out: &mut Vec<u8>) -> bool
where
    T: DeserializeOwned,
    R: Serialize + DeserializeOwned,
    F: Fn(T) -> R,
{
    let Some((_, count)) = head(frame) else {
        return false;
    };
    out.clear();
    out.extend_from_slice(&frame[..HEAD]);
    out.push(PACKED);
    let mut tasks = codec::Decoder::new(&frame[HEAD..]);
    let mut enc = codec::Encoder::new(out);
    let mut tagged = false;
    let mut lost: Option<String> = None;
    for k in 0..count as usize {
        let failed = if let Some(why) = &lost {
            Some((TAG_DECODE, why.clone()))
        } else {
            match tasks.next::<T>() {
                Err(e) => {
                    let why = format!("task {k} of its chunk did not decode: {e}");
                    lost = Some(why.clone());
                    Some((TAG_DECODE, why))
                }
                Ok(t) => {
                    let mark = enc.buf().len();
                    if tagged {
                        enc.buf().push(TAG_OK);
                        put_u32(enc.buf(), 0);
                    }
                    match catch_unwind(AssertUnwindSafe(|| f(t))) {
                        Ok(r) => match enc.push(&r) {
                            Ok(()) => {
                                if tagged {
                                    let out = enc.buf();
                                    let len = (out.len() - mark - 5) as u32;
                                    out[mark + 1..mark + 5].copy_from_slice(&len.to_le_bytes());
                                }
                                None
                            }
                            Err(e) => {
                                enc.buf().truncate(mark);
                                Some((TAG_DECODE, e.to_string()))
                            }
                        },
                        Err(p) => {
                            enc.buf().truncate(mark);
                            Some((TAG_PANIC, fork::panic_message(&*p)))
                        }
                    }
                }
            }
        };
        if let Some((tag, msg)) = failed {
            let out = enc.buf();
            if !tagged {
                retag::<R>(out, k);
                tagged = true;
            }
            out.push(tag);
            put_u32(out, msg.len() as u32);
            out.extend_from_slice(msg.as_bytes());
        }
    }
    true
}

/// Turn a packed result frame holding `done` results into a tagged one:
/// the boundaries come from decoding the results again.
fn retag<R: DeserializeOwned>(out: &mut Vec<u8>, done: usize) {
    let packed = out.split_off(HEAD + 1);
    out[HEAD] = TAGGED;
    let mut rest = packed.as_slice();
    for _ in 0..done {
        match postcard::take_from_bytes::<R>(rest) {
            Ok((_, next)) => {
                let body = &rest[..rest.len() - next.len()];
                out.push(TAG_OK);
                put_u32(out, body.len() as u32);
                out.extend_from_slice(body);
                rest = next;
            }
            Err(e) => {
                let msg = format!("result did not decode: {e}");
                out.push(TAG_DECODE);
                put_u32(out, msg.len() as u32);
                out.extend_from_slice(msg.as_bytes());
                rest = &[];
            }
        }
    }
}

/// Caller side: the results of a result frame, in task order; always
/// exactly `count` items (a short or damaged frame gives
/// [`Error::Decode`] for the tasks it lacks).
pub(crate) struct Results<'a, R> {
    /// Tagged mode: the entries not read yet.
    rest: &'a [u8],
    /// Packed mode: the results not read yet.
    packed: codec::Decoder<'a>,
    left: usize,
    tagged: bool,
    lost: bool,
    _r: std::marker::PhantomData<fn() -> R>,
}

impl<'a, R: DeserializeOwned> Results<'a, R> {
    /// The `count` results in `frame`.
    pub(crate) fn new(frame: &'a [u8], count: usize) -> Self {
        let mode = frame.get(HEAD).copied();
        let rest = frame.get(HEAD + 1..).unwrap_or(&[]);
        Self {
            rest,
            packed: codec::Decoder::new(rest),
            left: count,
            tagged: mode == Some(TAGGED),
            lost: mode.is_none_or(|m| m > TAGGED),
            _r: std::marker::PhantomData,
        }
    }

    fn tagged_next(&mut self) -> Result<R> {
        let (Some(tag), Some(len)) = (self.rest.first().copied(), get_u32(self.rest, 1)) else {
            self.lost = true;
            return Err(Error::Decode("result frame too short".into()));
        };
        let Some(body) = self.rest.get(5..5 + len as usize) else {
            self.lost = true;
            return Err(Error::Decode("result frame too short".into()));
        };
        self.rest = &self.rest[5 + len as usize..];
        match tag {
            TAG_OK => codec::decode(body),
            TAG_PANIC => Err(Error::TaskPanicked(String::from_utf8_lossy(body).into())),
            _ => Err(Error::Decode(String::from_utf8_lossy(body).into())),
        }
    }
}

impl<R: DeserializeOwned> Iterator for Results<'_, R> {
    type Item = Result<R>;

    #[inline]
    fn next(&mut self) -> Option<Result<R>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if self.lost {
            return Some(Err(Error::Decode(
                "result lost after an earlier result of its chunk failed to decode".into(),
            )));
        }
        if self.tagged {
            return Some(self.tagged_next());
        }
        let r = self.packed.next::<R>();
        self.lost = r.is_err();
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(tasks: &[i32]) -> Vec<u8> {
        let mut f = Vec::new();
        begin(&mut f, 7);
        assert_eq!(push_tasks(&mut f, tasks.iter(), 99).unwrap(), tasks.len());
        finish(&mut f, tasks.len());
        f
    }

    #[test]
    fn packed_round_trip() {
        let f = frame_of(&[1, -2, 300]);
        assert_eq!(head(&f), Some((7, 3)));
        let mut out = Vec::new();
        assert!(run(&|x: i32| i64::from(x) * 2, &f, &mut out));
        assert_eq!(out[HEAD], PACKED);
        let r: Vec<i64> = Results::new(&out, 3).map(|r| r.unwrap()).collect();
        assert_eq!(r, [2, -4, 600]);
    }

    #[test]
    fn a_panic_switches_to_tagged_and_keeps_the_others() {
        let f = frame_of(&[1, 0, 5, 0]);
        let mut out = Vec::new();
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        assert!(run(
            &|x: i32| if x == 0 { panic!("zero") } else { x },
            &f,
            &mut out
        ));
        std::panic::set_hook(prev);
        assert_eq!(out[HEAD], TAGGED);
        let r: Vec<Result<i32>> = Results::new(&out, 4).collect();
        assert_eq!(r[0], Ok(1));
        assert_eq!(r[1], Err(Error::TaskPanicked("zero".into())));
        assert_eq!(r[2], Ok(5));
        assert!(matches!(r[3], Err(Error::TaskPanicked(_))));
    }

    #[test]
    fn an_undecodable_task_fails_the_rest_of_its_chunk() {
        let mut f = Vec::new();
        begin(&mut f, 1);
        push_tasks(&mut f, ["ok"].into_iter(), 1).unwrap();
        f.extend_from_slice(&[0xff, 0xff]); // a length past the end
        finish(&mut f, 3);
        let mut out = Vec::new();
        assert!(run(&|s: String| s.len(), &f, &mut out));
        let r: Vec<Result<usize>> = Results::new(&out, 3).collect();
        assert_eq!(r[0], Ok(2));
        assert!(matches!(r[1], Err(Error::Decode(_))));
        assert!(matches!(r[2], Err(Error::Decode(_))));
    }

    #[test]
    fn short_or_headless_frames() {
        let mut out = Vec::new();
        assert!(!run(&|x: u8| x, &[1, 2], &mut out));
        let f = frame_of(&[1, 2]);
        assert!(run(&|x: i32| x, &f, &mut out));
        out.truncate(out.len() - 1);
        let r: Vec<Result<i32>> = Results::new(&out, 2).collect();
        assert_eq!(r[0], Ok(1));
        assert!(matches!(r[1], Err(Error::Decode(_))));
        let r: Vec<Result<i32>> = Results::new(&[], 2).collect();
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|x| matches!(x, Err(Error::Decode(_)))));
    }
}
