//! The collection algorithm, phase by phase, with CPython's phase names
//! (`Modules/gcmodule.c` in 3.11) so the two can be read side by side.
//! Read [`collect_main`] first.
//!
//! # States of an object during a collection (the header's gc bits)
//!
//! ```text
//!   Reachable              COLLECTING clear: in a generation that is not
//!                          being collected, or already proven reachable
//!   gc_refs >= 0           COLLECTING set: update_refs copied the strong
//!                          count, subtract_refs removed internal references
//!   TentativelyUnreachable COLLECTING | UNREACHABLE: gc_refs reached 0 and
//!                          move_unreachable has not (yet) found a path to it;
//!                          once move_unreachable is done: proven garbage, and
//!                          a count reaching zero leaves it to delete_garbage
//!   Owned                  OWNED: the same while check_garbage re-examines
//!                          the garbage and while delete_garbage drops it
//! ```
//!
//! # Invariants
//!
//! 1. Every traversal is a loop over an intrusive list or an explicit work
//!    list: no recursion proportional to the data, no allocation per object
//!    (the legacy-finalizer mark stack is the one exception, and only when a
//!    legacy finalizer is in the garbage).
//! 2. User code (weak callbacks, finalizers, `Drop`) runs only after the
//!    survivors were merged into the older generation, on objects whose
//!    memory stays allocated: finalizers run while no garbage value has been
//!    dropped; `delete_garbage` frees an object only once its count is zero.
//! 3. While user code runs, the space's `collecting` flag is set: automatic
//!    collections are skipped and explicit ones return 0 (as in CPython).

use core::ptr::NonNull;

use coil_refcount::Flags;

use crate::{
    DebugFlags, Increment, Seeds,
    gc::{Object, run_finalizer},
    head::{
        self, COLLECTING, DIRTY, GEN_MASK, GEN_SHIFT, GcHead, HAS_CALLBACKS, MARK, OWNED,
        REFS_MASK, UNREACHABLE,
    },
    space::SpaceState,
    trace::{Op, Visitor},
    weakrefs,
};

/// What one collection found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Outcome {
    /// Unreachable objects freed (or saved with `SAVEALL`).
    pub(crate) collected: usize,
    /// Unreachable objects kept in `garbage` (legacy finalizers).
    pub(crate) uncollectable: usize,
}

#[inline(always)]
unsafe fn nn(p: *mut GcHead) -> NonNull<GcHead> {
    // SAFETY: list nodes are never null (caller walks a list).
    unsafe { NonNull::new_unchecked(p) }
}

/// A sentinel for a private list, on the stack for the duration of a phase.
/// Its address must not change while the list is non-empty.
fn sentinel() -> GcHead {
    GcHead::new(&head::SENTINEL_VTABLE, 0)
}

/// Set all gc_refs = strong count, and COLLECTING. After this, gc_refs > 0
/// for every object of `list` (objects with a zero count are not in lists,
/// except owned ones during `check_garbage`, which then stay at 0).
unsafe fn update_refs(list: *mut GcHead) {
    // SAFETY: `list` is a sentinel whose nodes are live objects.
    unsafe {
        let mut gc = (*list).next.get();
        while gc != list {
            let h = nn(gc);
            let refs = head::init_refs(h);
            // Garbage re-examined by check_garbage stays owned: OWNED
            // stands in for UNREACHABLE, which move_unreachable reuses.
            let b = head::bits(h);
            let owned = if b & UNREACHABLE != 0 { OWNED } else { 0 };
            head::set_bits(h, (b & (HAS_CALLBACKS | OWNED)) | owned | COLLECTING | refs);
            gc = (*gc).next.get();
        }
    }
}

/// Subtract internal references from gc_refs. After this, gc_refs >= 0 for
/// every object of `list`, and > 0 exactly for the objects referenced from
/// outside the collected set.
unsafe fn subtract_refs(list: *mut GcHead) {
    let mut v = Visitor::new(Op::Subtract);
    // SAFETY: live list nodes with initialised values.
    unsafe {
        let mut gc = (*list).next.get();
        while gc != list {
            ((*gc).vtable.trace)(nn(gc), &mut v);
            gc = (*gc).next.get();
        }
    }
}

/// What `move_unreachable` noticed about the objects it set aside (an
/// over-estimate: some of them may have been moved back since), so that
/// later phases run only when they have something to do.
#[derive(Default, Clone, Copy)]
struct Garbage {
    legacy: bool,
    weak: bool,
    finalizers: bool,
}

/// `update_refs` and `subtract_refs` in one pass, for a collection of
/// generations `0..=max_gen` of space `space` (all of them in `young`):
/// each member's gc_refs is set from its strong count the first time it is
/// touched — as a target or in the walk — and then decremented for each
/// internal reference. After this, every object of `young` has COLLECTING
/// set and gc_refs > 0 exactly if it is referenced from outside.
unsafe fn update_and_subtract_refs(young: *mut GcHead, space: u32, max_gen: u32) {
    let mut v = Visitor::new(Op::SubtractFused { space, max_gen });
    // SAFETY: live list nodes with initialised values (caller).
    unsafe { init_and_trace(young, &mut v) };
}

/// The walk both subtract passes share: each object of `list`, in order,
/// gets COLLECTING and gc_refs = its strong count on first touch, then is
/// traced with `v`. The visitor may append to `list` behind the walk.
///
/// # Safety
///
/// `list` is a live list of initialised objects, touched by nobody else
/// during the walk.
#[inline(always)]
unsafe fn init_and_trace(list: *mut GcHead, v: &mut Visitor<'_>) {
    // SAFETY: live list nodes with initialised values (caller).
    unsafe {
        let mut gc = (*list).next.get();
        while gc != list {
            let h = nn(gc);
            let b = head::bits(h);
            if b & COLLECTING == 0 {
                head::set_bits(h, b | COLLECTING | head::init_refs(h));
            }
            ((*gc).vtable.trace)(h, v);
            gc = (*gc).next.get();
        }
    }
}

/// [`update_and_subtract_refs`] for an increment (members: this space's
/// generation-0 objects, all in `inc`), which also takes in the increment's
/// closure: an old object (generation 1 or 2) of the space is appended to
/// `inc` the first time a member refers to it, and becomes a member (so it
/// is walked and traced in turn, and every reference to it from a member
/// is counted). Returns the number of old objects taken in.
unsafe fn update_subtract_and_pull(inc: *mut GcHead, space: u32) -> usize {
    let mut taken = 0;
    {
        let mut v = Visitor::new(Op::SubtractPull {
            space,
            inc,
            taken: &mut taken,
        });
        // SAFETY: live list nodes with initialised values; the visitor only
        // appends to `inc`, behind the walk.
        unsafe { init_and_trace(inc, &mut v) };
    }
    taken
}

/// Move the objects of `young` with gc_refs == 0 that are not reachable
/// from the others into `unreachable`. Loop invariant: every object before
/// `gc` in `young` is reachable and scanned (COLLECTING clear); objects
/// found reachable later are appended to `young`'s tail and scanned in
/// turn — the list is the work list, so any depth runs in constant stack.
/// Returns the number of reachable objects left in `young`.
unsafe fn move_unreachable(
    young: *mut GcHead,
    unreachable: *mut GcHead,
    g: &mut Garbage,
    survivor_gen: u32,
) -> usize {
    let mut survivors = 0;
    let mut v = Visitor::new(Op::Reach { young });
    // SAFETY: live list nodes; the visitor moves only COLLECTING objects
    // between `young` and `unreachable`, which are both ours.
    unsafe {
        let mut gc = (*young).next.get();
        while gc != young {
            let h = nn(gc);
            let b = head::bits(h);
            if b & REFS_MASK != 0 {
                // Reachable: everything it refers to is too.
                ((*gc).vtable.trace)(h, &mut v);
                let b = head::bits(h);
                head::set_bits(
                    h,
                    (b & !(COLLECTING | REFS_MASK | GEN_MASK | DIRTY))
                        | (survivor_gen << GEN_SHIFT),
                );
                survivors += 1;
                gc = (*gc).next.get();
            } else {
                // Tentatively unreachable; may be moved back by a later
                // visit from a reachable object.
                let next = (*gc).next.get();
                head::list_move(gc, unreachable);
                head::set_bits(h, b | UNREACHABLE);
                let vt = (*gc).vtable;
                g.legacy |= vt.legacy;
                g.finalizers |= vt.finalize.is_some();
                g.weak |= b & HAS_CALLBACKS != 0 || head::header(h).weak() > 1;
                gc = next;
            }
        }
    }
    survivors
}

/// Move the objects with legacy finalizers, and everything reachable from
/// them, from `unreachable` to `finalizers`; their bits are cleared (they
/// survive, as uncollectable garbage).
unsafe fn move_legacy_finalizers(unreachable: *mut GcHead, finalizers: *mut GcHead) {
    let mut stack: Vec<NonNull<GcHead>> = Vec::new();
    // SAFETY: live list nodes.
    unsafe {
        let mut gc = (*unreachable).next.get();
        while gc != unreachable {
            let next = (*gc).next.get();
            if (*gc).vtable.legacy {
                let h = nn(gc);
                head::set_bits(h, head::bits(h) | MARK);
                stack.push(h);
            }
            gc = next;
        }
        // move_legacy_finalizer_reachable: mark everything they reach.
        let mut marked = Vec::new();
        while let Some(h) = stack.pop() {
            marked.push(h);
            let mut v = Visitor::new(Op::Mark(&mut stack));
            ((*h.as_ptr()).vtable.trace)(h, &mut v);
        }
        for h in marked {
            head::list_move(h.as_ptr(), finalizers);
            head::set_bits(h, head::bits(h) & HAS_CALLBACKS);
        }
    }
}

/// Clear weak references to the unreachable objects and run the callbacks
/// of the weak handles that are not garbage themselves. Returns the number
/// of callbacks run.
unsafe fn handle_weakrefs(unreachable: *mut GcHead) -> usize {
    let mut pending = Vec::new();
    // SAFETY: live list nodes with initialised values.
    unsafe {
        if weakrefs::any_registered() {
            // A weak handle owned by garbage is garbage: its callback must
            // not run (CPython: "if wr is also trash, no").
            let mut v = Visitor::new(Op::CancelWeak);
            let mut gc = (*unreachable).next.get();
            while gc != unreachable {
                ((*gc).vtable.trace)(nn(gc), &mut v);
                gc = (*gc).next.get();
            }
        }
        let mut gc = (*unreachable).next.get();
        while gc != unreachable {
            let h = nn(gc);
            let hdr = head::header(h);
            if hdr.weak() > 1 || head::bits(h) & HAS_CALLBACKS != 0 {
                hdr.insert_flags_local(Flags::WEAK_CLEARED);
                if head::bits(h) & HAS_CALLBACKS != 0 {
                    pending.push(weakrefs::take(h));
                }
            }
            gc = (*gc).next.get();
        }
    }
    // All weak references are cleared before any callback runs.
    pending.into_iter().map(weakrefs::run).sum()
}

/// Run each finalizer that has not run yet (PEP 442), once ever. Returns
/// how many ran. Owned objects cannot leave `unreachable` while the
/// finalizers run (invariant 2), so the walk is stable.
unsafe fn finalize_garbage(unreachable: *mut GcHead) -> usize {
    let mut ran = 0;
    // SAFETY: live list nodes with initialised values.
    unsafe {
        let mut gc = (*unreachable).next.get();
        while gc != unreachable {
            let h = nn(gc);
            if let Some(fin) = (*gc).vtable.finalize {
                let hdr = head::header(h);
                if !hdr.flags().contains(Flags::FINALIZED) {
                    hdr.insert_flags_local(Flags::FINALIZED);
                    run_finalizer(h, fin);
                    ran += 1;
                }
            }
            gc = (*gc).next.get();
        }
    }
    ran
}

/// Finalizers may have resurrected objects (made them reachable from
/// outside again). Recompute reachability within the garbage: resurrected
/// objects and everything they reach survive (moved to `old`); the rest
/// stays in `unreachable`. (CPython 3.9+'s `handle_resurrected_objects`.)
unsafe fn check_garbage(unreachable: *mut GcHead, old: *mut GcHead, old_gen: u32) {
    let mut still = sentinel();
    let still: *mut GcHead = &mut still;
    // SAFETY: live list nodes; `still` lives until the end of this function
    // and is emptied back into `unreachable` before it returns.
    unsafe {
        head::list_init(still);
        update_refs(unreachable);
        subtract_refs(unreachable);
        move_unreachable(unreachable, still, &mut Garbage::default(), 0);
        // What is left in `unreachable` was resurrected.
        let mut gc = (*unreachable).next.get();
        while gc != unreachable {
            let h = nn(gc);
            head::set_gen(h, old_gen);
            gc = (*gc).next.get();
        }
        head::list_merge(unreachable, old);
        head::list_merge(still, unreachable);
        let mut gc = (*unreachable).next.get();
        while gc != unreachable {
            let h = nn(gc);
            head::set_bits(
                h,
                (head::bits(h) & HAS_CALLBACKS) | COLLECTING | UNREACHABLE | OWNED,
            );
            gc = (*gc).next.get();
        }
    }
}

/// Break the cycles and free: drop each value (other garbage stays valid
/// memory while it runs: an object is freed only once its count is zero,
/// so a `Drop` that looks at another dying object finds it allocated, with
/// its value either alive or flagged as dropped), then free it if nothing
/// refers to it any more. Returns the number of objects deleted.
unsafe fn delete_garbage(unreachable: *mut GcHead) -> usize {
    /// After its value dropped: un-own the object and free it if nothing
    /// refers to it any more (else the ordinary count path frees it; its
    /// value is flagged dropped, so that path only releases the memory).
    ///
    /// # Safety
    ///
    /// `gc` is an owned object whose `drop_value` ran (or panicked).
    unsafe fn finish(gc: *mut GcHead) {
        // SAFETY: caller.
        unsafe {
            let h = nn(gc);
            head::set_bits(h, 0);
            (*gc).space.set(0);
            if head::header(h).strong() == 0 {
                ((*gc).vtable.release)(h);
            }
        }
    }
    let mut n = 0;
    // SAFETY: every node is an OWNED live object; once un-owned (bits 0,
    // links null) it follows the ordinary count rules. The list is consumed
    // front to back without relinking: a node not reached yet keeps OWNED
    // | UNREACHABLE, so no drop frees or unlinks it (`gc::drop_slow`), and
    // its `next` link stays valid until the walk reads it.
    unsafe {
        let mut gc = (*unreachable).next.get();
        head::list_init(unreachable);
        // The object whose value is dropping: finished after a panic.
        let mut dropping: *mut GcHead = core::ptr::null_mut();
        loop {
            // One unwind guard for the whole walk; a panicking `Drop` is
            // reported by the panic hook and the walk resumes after it.
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                while gc != unreachable {
                    let h = nn(gc);
                    let next = (*gc).next.get();
                    (*gc).next.set(core::ptr::null_mut());
                    (*gc).prev.set(core::ptr::null_mut());
                    let hdr = head::header(h);
                    if head::bits(h) & HAS_CALLBACKS != 0 {
                        // Registered by a finalizer after handle_weakrefs ran.
                        hdr.insert_flags_local(Flags::WEAK_CLEARED);
                        weakrefs::run(weakrefs::take(h));
                    }
                    hdr.remove_flags_local(Flags::TRACKED);
                    // Still OWNED while its own value drops: a self-reference
                    // that reaches zero inside the drop must not free it
                    // under our feet.
                    head::set_bits(h, OWNED);
                    n += 1;
                    dropping = gc;
                    gc = next;
                    ((*dropping).vtable.drop_value)(h);
                    finish(dropping);
                    dropping = core::ptr::null_mut();
                }
            }));
            if !dropping.is_null() {
                finish(dropping);
                dropping = core::ptr::null_mut();
            }
            if done.is_ok() {
                break;
            }
        }
    }
    n
}

/// Keep each object of `list` in `garbage` (a new strong reference) and
/// move the list to `old`. Returns the number of objects.
unsafe fn save_garbage(
    st: &SpaceState,
    list: *mut GcHead,
    old: *mut GcHead,
    old_gen: u32,
) -> usize {
    let mut n = 0;
    // SAFETY: live list nodes with initialised values.
    unsafe {
        let mut saved = Vec::new();
        let mut gc = (*list).next.get();
        while gc != list {
            let h = nn(gc);
            head::set_gen(h, old_gen);
            saved.push(Object::new_ref(h));
            n += 1;
            gc = (*gc).next.get();
        }
        head::list_merge(list, old);
        st.garbage.borrow_mut().extend(saved);
    }
    n
}

unsafe fn debug_list(list: *mut GcHead, what: &str) {
    // SAFETY: live list nodes.
    unsafe {
        let mut gc = (*list).next.get();
        while gc != list {
            eprintln!(
                "gc: {what} <{} object at {:#x}>",
                ((*gc).vtable.type_name)(),
                gc as usize
            );
            gc = (*gc).next.get();
        }
    }
}

/// The main function: collect generation `generation` and every younger
/// one. Read this to understand how a collection works.
///
/// # Safety
///
/// Called by the space's owner thread, with `collecting` set by the caller
/// and not reentered.
pub(crate) unsafe fn collect_main(st: &SpaceState, generation: usize) -> (Outcome, ()) {
    let debug = st.debug.get();
    if debug.contains(DebugFlags::STATS) {
        eprintln!(
            "gc: collecting generation {generation}...\ngc: objects in each generation: {:?}",
            st.generation_lens()
        );
    }
    // Counts: this generation's collection is one event for the next.
    if generation + 1 < 3 {
        let c = &st.gens[generation + 1].count;
        c.set(c.get() + 1);
    }
    for g in &st.gens[..=generation] {
        g.count.set(0);
    }
    // Garbage formed after this point is noticed by the decref epoch.
    let epoch = head::decref_epoch();
    for e in &st.epoch_at[..=generation] {
        e.set(epoch);
    }
    if generation == 2 {
        // A full collection: every old object is pending again for the
        // incremental collector, which starts a new pass.
        st.visited_gen.set(1);
        st.pass_epoch.set(epoch);
    }
    let young = st.gen_head(generation);
    let old = if generation == 2 {
        young
    } else {
        st.gen_head(generation + 1)
    };
    // SAFETY: the lists are this space's generations.
    unsafe {
        // Merge younger generations into the one being collected.
        for g in 0..generation {
            head::list_merge(st.gen_head(g), young);
        }
        let old_gen = (generation + 1).min(2) as u32;
        let out = collect_list(
            st,
            young,
            Members::Generations(generation as u32),
            old,
            old_gen,
            |survivors| {
                if young != old {
                    if generation == 1 {
                        st.long_lived_pending
                            .set(st.long_lived_pending.get() + survivors);
                    }
                } else {
                    st.long_lived_pending.set(0);
                    st.long_lived_total.set(survivors);
                }
            },
        );
        (out, ())
    }
}

/// Which objects a collection is made of.
enum Members<'a> {
    /// Exactly the objects of the space whose generation bits are
    /// `<= max_gen`, all in the list.
    Generations(u32),
    /// An increment: the space's generation-0 objects (all in the list)
    /// and the old objects they reach, taken in as found (their number is
    /// written here).
    Increment(&'a mut usize),
}

/// The collection proper over `young`, which holds the `members`: find the unreachable
/// ones, move the survivors to `old` (generation `old_gen`; `old` may be
/// `young` itself), call `survived` with their number before any user code
/// runs, then clear weak references, finalize, and free.
///
/// # Safety
///
/// As [`collect_main`]; `young` and `old` are initialised sentinels of this
/// space's lists.
unsafe fn collect_list(
    st: &SpaceState,
    young: *mut GcHead,
    members: Members<'_>,
    old: *mut GcHead,
    old_gen: u32,
    survived: impl FnOnce(usize),
) -> Outcome {
    let debug = st.debug.get();
    let mut unreachable = sentinel();
    let unreachable: *mut GcHead = &mut unreachable;
    let mut finalizers = sentinel();
    let finalizers: *mut GcHead = &mut finalizers;
    let mut out = Outcome::default();
    // SAFETY: the lists are this space's and two private sentinels that
    // live until the end of this function and are empty when it returns.
    unsafe {
        head::list_init(unreachable);
        head::list_init(finalizers);
        // deduce_unreachable
        match members {
            Members::Generations(max_gen) => update_and_subtract_refs(young, st.id, max_gen),
            Members::Increment(taken) => *taken = update_subtract_and_pull(young, st.id),
        }
        let mut g = Garbage::default();
        let survivors = move_unreachable(young, unreachable, &mut g, old_gen);
        // Survivors move on to the next generation (before any user code).
        if young != old {
            head::list_merge(young, old);
        }
        survived(survivors);
        if head::list_is_empty(unreachable) {
            return out;
        }
        // The unreachable objects now carry COLLECTING | UNREACHABLE: from
        // here on the collector owns them (a count reaching zero leaves
        // them alone, see `gc::drop_slow`).
        if g.legacy {
            move_legacy_finalizers(unreachable, finalizers);
        }
        if debug.contains(DebugFlags::COLLECTABLE) {
            debug_list(unreachable, "collectable");
        }
        // User code may run from here on (invariant 2).
        if g.weak {
            handle_weakrefs(unreachable);
        }
        if g.finalizers && finalize_garbage(unreachable) > 0 {
            check_garbage(unreachable, old, old_gen);
        }
        if debug.contains(DebugFlags::SAVEALL) {
            out.collected = save_garbage(st, unreachable, old, old_gen);
        } else {
            out.collected = delete_garbage(unreachable);
        }
        if !head::list_is_empty(finalizers) {
            if debug.contains(DebugFlags::UNCOLLECTABLE) {
                debug_list(finalizers, "uncollectable");
            }
            out.uncollectable = save_garbage(st, finalizers, old, old_gen);
        }
    }
    if debug.contains(DebugFlags::STATS) {
        eprintln!(
            "gc: done, {} unreachable, {} uncollectable",
            out.collected + out.uncollectable,
            out.uncollectable
        );
    }
    out
}

/// One increment of the incremental collector (CPython 3.14's
/// `gc_collect_increment`, with coil's dirty seeds). The increment is made
/// of seeds and their closure:
///
/// 1. every young object is stepped over: a seed if `seeds` takes it,
///    else it joins the visited old space as it is;
/// 2. up to `budget` pending old objects are stepped over the same way;
/// 3. every old object the increment references joins it, transitively
///    (so a garbage structure is never split between the increment and
///    the rest), found while the internal references are subtracted;
/// 4. the increment is collected as one unit; survivors join the visited
///    old space. When no pending object is left, the next increment swaps
///    the spaces: a new pass — unless no object of the thread lost a
///    reference since the last pass started (the decref epoch): then no
///    old object is dirty and the new pass waits for a decref.
///
/// Why dirty seeds miss nothing: a garbage structure that no other garbage
/// refers to (a "top" one) became garbage when its last outside reference
/// was dropped — a decref on one of its members, which marked it DIRTY —
/// and it is freed whole by the first increment that takes that member in
/// (no outside references, the closure brings all of it). What it referred
/// to then loses references, becomes dirty in turn, and so on.
///
/// Old objects live in the lists of generations 1 and 2; `visited_gen`
/// names the visited one. Under this collector every old object is
/// labelled generation 2 whichever list holds it (head.rs invariant 6's
/// exception), so stepping over a clean old object writes nothing: a run
/// of them moves in O(1). The increment's members are labelled generation
/// 0 and collected by [`collect_list`] with `max_gen = 0`.
///
/// # Safety
///
/// As [`collect_main`].
pub(crate) unsafe fn collect_increment(
    st: &SpaceState,
    budget: usize,
    seeds: Seeds,
) -> (Outcome, Increment) {
    let debug = st.debug.get();
    if debug.contains(DebugFlags::STATS) {
        eprintln!(
            "gc: collecting an increment...\ngc: objects in each generation: {:?}",
            st.generation_lens()
        );
    }
    let mut work = Increment::default();
    st.gens[0].count.set(0);
    let c = &st.gens[1].count;
    c.set(c.get() + 1);
    st.epoch_at[0].set(head::decref_epoch());
    let young = st.gen_head(0);
    let mut visited_gen = st.visited_gen.get();
    let mut pending_gen = 3 - visited_gen;
    let all = seeds == Seeds::All;
    let mut inc = sentinel();
    let inc: *mut GcHead = &mut inc;
    // SAFETY: the lists are this space's generations and the private
    // sentinel `inc`, which lives until the end of this function and is
    // empty when it returns (collect_list empties it); every node is a live
    // object of this space with initialised value.
    unsafe {
        head::list_init(inc);
        if head::list_is_empty(st.gen_head(pending_gen as usize)) {
            let epoch = head::decref_epoch();
            if all || epoch == u64::MAX || epoch != st.pass_epoch.get() {
                // The pass is over: what was visited is pending again.
                core::mem::swap(&mut visited_gen, &mut pending_gen);
                st.visited_gen.set(visited_gen);
                st.pass_epoch.set(epoch);
                work.pass_done = true;
            }
            // Else no object lost a reference since the last pass started:
            // that pass took in every object that was dirty then, so no old
            // object is dirty, and a new pass would only step over them.
            // The old space stays visited until a decref happens.
        }
        let pending = st.gen_head(pending_gen as usize);
        let visited = st.gen_head(visited_gen as usize);
        // 1. The young generation: runs of clean objects join the visited
        // space in O(1) each; the dirty ones stay, then join the increment.
        let old_bits = 2 << GEN_SHIFT;
        let mut run: *mut GcHead = core::ptr::null_mut();
        let mut gc = (*young).next.get();
        while gc != young {
            let next = (*gc).next.get();
            let h = nn(gc);
            let b = head::bits(h);
            if all || b & DIRTY != 0 {
                if !run.is_null() {
                    head::list_splice_range(run, (*gc).prev.get(), visited);
                    run = core::ptr::null_mut();
                }
            } else {
                head::set_bits(h, (b & !GEN_MASK) | old_bits);
                if run.is_null() {
                    run = gc;
                }
            }
            gc = next;
        }
        if !run.is_null() {
            head::list_splice_range(run, (*young).prev.get(), visited);
        }
        head::list_merge(young, inc);
        // 2. Pending old objects.
        let mut gc = (*pending).next.get();
        while gc != pending && work.stepped < budget {
            let next = (*gc).next.get();
            let h = nn(gc);
            let b = head::bits(h);
            if all || b & DIRTY != 0 {
                head::list_move(gc, inc);
                head::set_bits(h, b & !GEN_MASK);
                work.taken += 1;
            } else if b & GEN_MASK != old_bits {
                // Labelled 1 by the generational collector.
                head::set_bits(h, (b & !GEN_MASK) | old_bits);
            }
            work.stepped += 1;
            gc = next;
        }
        head::list_splice_front(pending, gc, visited);
        // 3 and 4. Collect it; the closure is taken in while the internal
        // references are subtracted.
        let mut taken = 0;
        let out = collect_list(st, inc, Members::Increment(&mut taken), visited, 2, |_| {});
        work.taken += taken;
        work.found = out.collected + out.uncollectable;
        (out, work)
    }
}
