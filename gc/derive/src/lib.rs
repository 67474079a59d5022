//! `coil-gc-derive`: `#[derive(Trace)]` for [coil-gc](https://docs.rs/coil-gc).
//!
//! The derive writes the `coil_gc::Trace` impl a careful human would write:
//! it visits every field in declaration order (every variant's fields for an
//! enum), and sets `MAY_CONTAIN_GC` to the `||` of the fields' constants, so a
//! struct of plain data is known at compile time to hold no `Gc` and its
//! objects are never tracked by the collector.
//!
//! `#[trace(skip)]` on a field leaves it out (its type then need not
//! implement `Trace`). Skipping a field that holds a `Gc` is memory-safe: the
//! collector then sees that reference as coming from outside, and a cycle
//! through it is never collected (a leak, never a use-after-free).
//!
//! Generic type parameters get a `Trace` bound.
//!
//! The generated code names the crate as `::coil_gc`. A program that reaches
//! coil-gc through another crate (the `coil` facade: `coil::gc`) says where it
//! is with a container attribute, as serde's `#[serde(crate = "...")]`:
//! `#[trace(crate = "coil::gc")]`.
//!
//! ```
//! use coil_gc::{Gc, Trace};
//! use std::cell::RefCell;
//!
//! /// A type of another crate, with no `Trace` impl.
//! struct Socket(u32);
//!
//! #[derive(Trace)]
//! struct Node {
//!     next: RefCell<Option<Gc<Node>>>,
//!     #[trace(skip)]
//!     peer: Socket,
//! }
//!
//! // A struct of plain data holds no `Gc`: its objects are never tracked.
//! #[derive(Trace)]
//! struct Point {
//!     x: f64,
//!     y: f64,
//! }
//! assert!(Node::MAY_CONTAIN_GC);
//! assert!(!Point::MAY_CONTAIN_GC);
//! ```
//!
//! # What does not compile
//!
//! Each of these is a compile error with a message that names the problem,
//! never a `Trace` impl that silently misses an edge. (Each example differs
//! from a compiling one only in the line that is wrong.)
//!
//! A field whose type does not implement `Trace`, unless it is skipped:
//!
//! ```compile_fail
//! struct Socket(u32);
//!
//! #[derive(coil_gc::Trace)]
//! struct Node {
//!     peer: Socket,
//! }
//! ```
//!
//! An unknown attribute on a field, and `skip` on the type itself:
//!
//! ```compile_fail
//! struct Socket(u32);
//!
//! #[derive(coil_gc::Trace)]
//! struct Node {
//!     #[trace(skipp)]
//!     peer: Socket,
//! }
//! ```
//!
//! ```compile_fail
//! #[derive(coil_gc::Trace)]
//! #[trace(skip)]
//! struct Node {
//!     count: u64,
//! }
//! ```
//!
//! A union (which field is live is unknown):
//!
//! ```compile_fail
//! #[derive(coil_gc::Trace)]
//! union Bits {
//!     int: u64,
//!     float: f64,
//! }
//! ```
//!
//! A generic parameter gets a `Trace` bound, so a type argument that is not
//! `Trace` is refused where it is used:
//!
//! ```compile_fail
//! #[derive(coil_gc::Trace)]
//! struct Wrap<T>(T);
//!
//! struct Socket(u32);
//!
//! fn needs_trace<T: coil_gc::Trace>() {}
//! needs_trace::<Wrap<Socket>>();
//! ```
//!
//! ```
//! #[derive(coil_gc::Trace)]
//! struct Wrap<T>(T);
//!
//! fn needs_trace<T: coil_gc::Trace>() {}
//! needs_trace::<Wrap<u64>>();
//! ```

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, parse_macro_input};

/// Derives `coil_gc::Trace`; see the [crate documentation](crate).
#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The path of the coil-gc crate: `#[trace(crate = "...")]` on the type, or
/// `::coil_gc`. A `skip` on the type itself is an error (skip is for fields and
/// variants).
fn crate_path(attrs: &[syn::Attribute]) -> syn::Result<syn::Path> {
    let mut path: syn::Path = syn::parse_quote!(::coil_gc);
    for a in attrs {
        if a.path().is_ident("trace") {
            a.parse_nested_meta(|m| {
                if m.path.is_ident("crate") {
                    let lit: syn::LitStr = m.value()?.parse()?;
                    path = lit.parse()?;
                    Ok(())
                } else if m.path.is_ident("skip") {
                    Err(m.error("`#[trace(skip)]` goes on a field or a variant, not on the type"))
                } else {
                    Err(m.error("unknown trace attribute on a type; expected `crate = \"path\"`"))
                }
            })?;
        }
    }
    Ok(path)
}

fn is_skipped(attrs: &[syn::Attribute]) -> syn::Result<bool> {
    let mut skip = false;
    for a in attrs {
        if a.path().is_ident("trace") {
            a.parse_nested_meta(|m| {
                if m.path.is_ident("skip") {
                    skip = true;
                    Ok(())
                } else {
                    Err(m.error("unknown trace attribute; expected `skip`"))
                }
            })?;
        }
    }
    Ok(skip)
}

/// For a set of fields: (pattern binding the traced fields, trace calls, field types).
fn fields_parts(
    krate: &syn::Path,
    fields: &Fields,
) -> syn::Result<(Tokens, Vec<Tokens>, Vec<syn::Type>)> {
    let mut calls = Vec::new();
    let mut tys = Vec::new();
    let pat = match fields {
        Fields::Named(named) => {
            let mut binds = Vec::new();
            for (i, f) in named.named.iter().enumerate() {
                let name = f.ident.clone().expect("named field");
                if is_skipped(&f.attrs)? {
                    continue;
                }
                let b = format_ident!("__f{}", i);
                binds.push(quote!(#name: #b));
                calls.push(quote!(#krate::Trace::trace(#b, __v);));
                tys.push(f.ty.clone());
            }
            quote!({ #(#binds,)* .. })
        }
        Fields::Unnamed(unnamed) => {
            let mut binds = Vec::new();
            for (i, f) in unnamed.unnamed.iter().enumerate() {
                if is_skipped(&f.attrs)? {
                    binds.push(quote!(_));
                    continue;
                }
                let b = format_ident!("__f{}", i);
                binds.push(quote!(#b));
                calls.push(quote!(#krate::Trace::trace(#b, __v);));
                tys.push(f.ty.clone());
            }
            quote!(( #(#binds,)* ))
        }
        Fields::Unit => quote!(),
    };
    Ok((pat, calls, tys))
}

fn expand(input: DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let krate = crate_path(&input.attrs)?;
    let mut generics = input.generics.clone();
    for p in generics.type_params_mut() {
        p.bounds.push(syn::parse_quote!(#krate::Trace));
    }
    let (impl_g, ty_g, where_g) = generics.split_for_impl();
    let mut all_tys: Vec<syn::Type> = Vec::new();
    let body = match &input.data {
        Data::Struct(s) => {
            let (pat, calls, tys) = fields_parts(&krate, &s.fields)?;
            all_tys.extend(tys);
            quote! {
                let #name #pat = self;
                #(#calls)*
            }
        }
        Data::Enum(e) => {
            let mut arms = Vec::new();
            for v in &e.variants {
                let vname = &v.ident;
                if is_skipped(&v.attrs)? {
                    arms.push(quote!(#name::#vname { .. } => {}));
                    continue;
                }
                let (pat, calls, tys) = fields_parts(&krate, &v.fields)?;
                all_tys.extend(tys);
                arms.push(quote!(#name::#vname #pat => { #(#calls)* }));
            }
            quote! {
                #[allow(unreachable_patterns)]
                match self {
                    #(#arms)*
                    _ => {}
                }
            }
        }
        Data::Union(u) => {
            return Err(syn::Error::new_spanned(
                u.union_token,
                "Trace cannot be derived for unions: the active field is unknown",
            ));
        }
    };
    let may = if all_tys.is_empty() {
        quote!(false)
    } else {
        quote!(false #(|| <#all_tys as #krate::Trace>::MAY_CONTAIN_GC)*)
    };
    Ok(quote! {
        // SAFETY: every field that is not `#[trace(skip)]` is traced exactly
        // once through its own `Trace` impl; skipped fields are hidden from
        // the collector, which can only make it keep more objects alive.
        unsafe impl #impl_g #krate::Trace for #name #ty_g #where_g {
            const MAY_CONTAIN_GC: bool = #may;
            #[inline]
            #[allow(unused_variables)]
            fn trace(&self, __v: &mut #krate::Visitor<'_>) {
                #body
            }
        }
    })
}
