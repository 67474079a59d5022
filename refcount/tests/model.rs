//! Property test: random sequences of new / clone / drop / downgrade /
//! upgrade / weak-callback operations against a model. The value's drop runs
//! exactly once, at the moment the model says, preceded by the callbacks of
//! the still-alive weak refs, newest first; counts match the model after
//! every step.

use std::{cell::RefCell, rc::Rc as StdRc};

use coil_refcount::{Rc, Weak, WeakRef};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Callback(usize),
    Dropped(usize),
}

type Log = StdRc<RefCell<Vec<Event>>>;

struct Val {
    id: usize,
    log: Log,
}

impl Drop for Val {
    fn drop(&mut self) {
        self.log.borrow_mut().push(Event::Dropped(self.id));
    }
}

#[derive(Debug, Clone)]
enum Op {
    New,
    Clone(usize),
    Drop(usize),
    Downgrade(usize),
    Upgrade(usize),
    DropWeak(usize),
    Callback(usize),
    DropWeakRef(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::New),
        3 => any::<usize>().prop_map(Op::Clone),
        4 => any::<usize>().prop_map(Op::Drop),
        2 => any::<usize>().prop_map(Op::Downgrade),
        2 => any::<usize>().prop_map(Op::Upgrade),
        2 => any::<usize>().prop_map(Op::DropWeak),
        2 => any::<usize>().prop_map(Op::Callback),
        1 => any::<usize>().prop_map(Op::DropWeakRef),
    ]
}

#[derive(Default)]
struct Model {
    strong: Vec<usize>,
    /// per object: live callback ids in registration order
    callbacks: Vec<Vec<usize>>,
    expected: Vec<Event>,
}

impl Model {
    fn release(&mut self, obj: usize) {
        self.strong[obj] -= 1;
        if self.strong[obj] == 0 {
            for cb in self.callbacks[obj].drain(..).rev() {
                self.expected.push(Event::Callback(cb));
            }
            self.expected.push(Event::Dropped(obj));
        }
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let log: Log = Default::default();
    let mut model = Model::default();
    let mut strong: Vec<(usize, Rc<Val>)> = Vec::new();
    let mut weak: Vec<(usize, Weak<Val>)> = Vec::new();
    let mut refs: Vec<(usize, usize, WeakRef<Val>)> = Vec::new();
    let mut next_cb = 0;
    for op in ops {
        match op {
            Op::New => {
                let id = model.strong.len();
                model.strong.push(1);
                model.callbacks.push(Vec::new());
                strong.push((
                    id,
                    Rc::new(Val {
                        id,
                        log: log.clone(),
                    }),
                ));
            }
            Op::Clone(i) if !strong.is_empty() => {
                let (id, h) = &strong[i % strong.len()];
                model.strong[*id] += 1;
                let c = (*id, h.clone());
                strong.push(c);
            }
            Op::Drop(i) if !strong.is_empty() => {
                let (id, h) = strong.swap_remove(i % strong.len());
                model.release(id);
                drop(h);
            }
            Op::Downgrade(i) if !strong.is_empty() => {
                let (id, h) = &strong[i % strong.len()];
                weak.push((*id, Rc::downgrade(h)));
            }
            Op::Upgrade(i) if !weak.is_empty() => {
                let (id, w) = &weak[i % weak.len()];
                let up = w.upgrade();
                prop_assert_eq!(up.is_some(), model.strong[*id] > 0);
                if let Some(h) = up {
                    prop_assert_eq!(h.id, *id);
                    model.strong[*id] += 1;
                    strong.push((*id, h));
                }
            }
            Op::DropWeak(i) if !weak.is_empty() => {
                weak.swap_remove(i % weak.len());
            }
            Op::Callback(i) if !strong.is_empty() => {
                let (id, h) = &strong[i % strong.len()];
                let cb = next_cb;
                next_cb += 1;
                let l = log.clone();
                let r = Weak::with_callback(h, move || l.borrow_mut().push(Event::Callback(cb)));
                model.callbacks[*id].push(cb);
                refs.push((*id, cb, r));
            }
            Op::DropWeakRef(i) if !refs.is_empty() => {
                let (id, cb, r) = refs.swap_remove(i % refs.len());
                model.callbacks[id].retain(|&c| c != cb);
                drop(r);
            }
            _ => {}
        }
        prop_assert_eq!(&*log.borrow(), &model.expected);
        for (id, h) in &strong {
            prop_assert_eq!(Rc::strong_count(h), model.strong[*id]);
        }
        for (id, w) in &weak {
            prop_assert_eq!(w.strong_count(), model.strong[*id]);
        }
    }
    // Drop everything left: every object must be dropped exactly once.
    for (id, h) in strong.drain(..) {
        model.release(id);
        drop(h);
    }
    prop_assert_eq!(&*log.borrow(), &model.expected);
    let mut dropped: Vec<usize> = log
        .borrow()
        .iter()
        .filter_map(|e| match e {
            Event::Dropped(i) => Some(*i),
            Event::Callback(_) => None,
        })
        .collect();
    dropped.sort_unstable();
    prop_assert_eq!(dropped, (0..model.strong.len()).collect::<Vec<_>>());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_handle_sequences_match_the_model(ops in prop::collection::vec(op(), 0..if cfg!(miri) { 40 } else { 200 })) {
        run(ops)?;
    }
}
