//! The macros that write a loss's public methods: `forward` / `backward` /
//! `forward_backward` and the `reduction` setter ([`loss_methods!`]), its other
//! builder setters ([`setters!`]) and its free function ([`free_fn!`]).
//!
//! A family states its mathematics in a private evaluation and names its
//! arguments with their element kinds; these macros write the signatures, the
//! docs and the calls. The kinds:
//!
//! | kinds | generics | arguments |
//! | --- | --- | --- |
//! | `(a: float)`, `(a: float, b: float)`, `(a: float, b: float, c: float)` | `T: Float, D: Dimension` | `ArrayView<'_, T, D>` each |
//! | `(a: float, b: float_any)`, `(a: float, b: float, c: float_any)` | `T: Float, D1: Dimension, D2: Dimension` | `float_any` is `ArrayView<'_, T, D2>`, the others `D1` |
//! | `(a: float, b: labels)`, `(a: labels, b: float)` | `T: Float, L: ClassIndex, D1: Dimension, D2: Dimension` | the first `D1`, the second `D2`; labels are `L` |
//!
//! How the evaluation is called (`loss_methods!(FACE: HOW, (ARGS), …)`):
//!
//! - `eval -> G`: the type has `eval(args…, &Upstream) -> Result<Eval<T, G>>`;
//!   `forward_backward` runs it once with an upstream gradient of ones.
//! - `run(input = first | last | only)`: the type has
//!   `run(&args…, &Upstream) -> Result<(value, Option<grads>)>` whose
//!   gradients are per argument (`first`/`last`: the prediction's position in a
//!   pair) or one array (`only`: w.r.t. the float argument of a labels loss);
//!   `forward_backward` runs it once with [`Upstream::Ones`](crate::machinery::lanes::Upstream::Ones),
//!   the row sweeps' value and gradients in one pass. Its general paths take a
//!   given upstream only ([`Upstream::given`](crate::machinery::lanes::Upstream::given)):
//!   they give the value alone for `Ones`, and `forward_backward` then runs
//!   `backward` with ones of its shape.
//! - `pointwise(NAME)`: an element-wise loss with `validate()`, `value(a, b)`
//!   and `derivative(a, b) = (∂/∂a, ∂/∂b)`, its tensors broadcast as NumPy
//!   broadcasts them (optax's: [`Broadcast::numpy`](crate::machinery::broadcast::Broadcast::numpy)), on [`Pointwise`](crate::machinery::pointwise::Pointwise).
//! - `fused(NAME)`: a loss of `input − target` with `validate()`, `value(r)` and
//!   `derivative(r)`, on the fused element-wise kernels when the layout allows
//!   (also writes `forward_backward_into`).
//! - `composed -> G`: `forward` and `backward` are the type's own; only
//!   `forward_backward` (`forward`, then `backward` with ones) and `reduction`
//!   are written.
//!
//! FACE picks the docs' wording: `torch` (the loss, `Sets the reduction.`),
//! `keras` (per-sample losses in Keras's argument order), `optax` (per-example
//! losses in optax's order) and `optax_elementwise` (element-wise losses in
//! optax's order).

/// Calls `$crate::machinery::methods::$cb!($payload [generics] (arguments))`
/// with the generics and argument types of the element kinds (see the module docs).
macro_rules! signature {
    ($cb:ident $payload:tt ($a:ident: float)) => {
        $crate::machinery::methods::$cb!($payload [T: $crate::machinery::float::Float, D: ::ndarray::Dimension]
            ($a: ::ndarray::ArrayView<'_, T, D>));
    };
    ($cb:ident $payload:tt ($a:ident: float, $b:ident: float)) => {
        $crate::machinery::methods::$cb!($payload [T: $crate::machinery::float::Float, D: ::ndarray::Dimension]
            ($a: ::ndarray::ArrayView<'_, T, D>, $b: ::ndarray::ArrayView<'_, T, D>));
    };
    ($cb:ident $payload:tt ($a:ident: float, $b:ident: float, $c:ident: float)) => {
        $crate::machinery::methods::$cb!($payload [T: $crate::machinery::float::Float, D: ::ndarray::Dimension]
            ($a: ::ndarray::ArrayView<'_, T, D>, $b: ::ndarray::ArrayView<'_, T, D>, $c: ::ndarray::ArrayView<'_, T, D>));
    };
    ($cb:ident $payload:tt ($a:ident: float, $b:ident: float_any)) => {
        $crate::machinery::methods::$cb!($payload [T: $crate::machinery::float::Float, D1: ::ndarray::Dimension, D2: ::ndarray::Dimension]
            ($a: ::ndarray::ArrayView<'_, T, D1>, $b: ::ndarray::ArrayView<'_, T, D2>));
    };
    ($cb:ident $payload:tt ($a:ident: float, $b:ident: float, $c:ident: float_any)) => {
        $crate::machinery::methods::$cb!($payload [T: $crate::machinery::float::Float, D1: ::ndarray::Dimension, D2: ::ndarray::Dimension]
            ($a: ::ndarray::ArrayView<'_, T, D1>, $b: ::ndarray::ArrayView<'_, T, D1>, $c: ::ndarray::ArrayView<'_, T, D2>));
    };
    ($cb:ident $payload:tt ($a:ident: float, $b:ident: labels)) => {
        $crate::machinery::methods::$cb!($payload
            [T: $crate::machinery::float::Float, L: $crate::machinery::float::ClassIndex, D1: ::ndarray::Dimension, D2: ::ndarray::Dimension]
            ($a: ::ndarray::ArrayView<'_, T, D1>, $b: ::ndarray::ArrayView<'_, L, D2>));
    };
    ($cb:ident $payload:tt ($a:ident: float, $b:ident: labels, $c:ident: float_any)) => {
        $crate::machinery::methods::$cb!($payload
            [T: $crate::machinery::float::Float, L: $crate::machinery::float::ClassIndex, D1: ::ndarray::Dimension, D2: ::ndarray::Dimension, D3: ::ndarray::Dimension]
            ($a: ::ndarray::ArrayView<'_, T, D1>, $b: ::ndarray::ArrayView<'_, L, D2>, $c: ::ndarray::ArrayView<'_, T, D3>));
    };
    ($cb:ident $payload:tt ($a:ident: labels, $b:ident: float)) => {
        $crate::machinery::methods::$cb!($payload
            [T: $crate::machinery::float::Float, L: $crate::machinery::float::ClassIndex, D1: ::ndarray::Dimension, D2: ::ndarray::Dimension]
            ($a: ::ndarray::ArrayView<'_, L, D1>, $b: ::ndarray::ArrayView<'_, T, D2>));
    };
}

/// Writes `forward`, `backward`, `forward_backward` and the `reduction` setter
/// of a loss (see the module docs for FACE, HOW and the kinds).
///
/// `loss_methods!(FACE: HOW [-> GRADIENTS], (ARG: KIND, …) [, "what backward's gradients are"])`
macro_rules! loss_methods {
    ($face:ident: $how:ident $(($($hp:tt)*))? $(-> $g:ty)?, ($($a:ident: $k:ident),+) $(, $gdoc:literal)?) => {
        $crate::machinery::methods::signature!(loss_methods_emit
            {$face $how [$($($hp)*)?] [$($g)?] [$($gdoc)?] [$($a),+]} ($($a: $k),+));
    };
}

/// The body of `loss_methods!`'s expansion, once the signature is known.
macro_rules! loss_methods_emit {
    ({$face:ident composed [] [$($g:ty)?] [] [$($a:ident),+]} [$($gen:tt)*] ($($p:ident: $pt:ty),+)) => {
        /// The loss and its gradients (of the result's sum when unreduced).
        ///
        /// # Errors
        /// See the type's docs.
        pub fn forward_backward<$($gen)*>(
            &self,
            $($p: $pt),+
        ) -> $crate::machinery::error::Result<(::ndarray::ArrayD<T>, $crate::machinery::methods::grads_type!($($g)?))> {
            $crate::machinery::methods::forward_backward_body!(self composed [] ($($a),+))
        }

        #[doc = $crate::machinery::methods::doc_reduction!($face)]
        #[must_use]
        pub fn reduction(mut self, reduction: $crate::machinery::reduction::Reduction) -> Self {
            self.reduction = reduction;
            self
        }
    };
    ({$face:ident $how:ident [$($hp:tt)*] [$($g:ty)?] [$($gdoc:literal)?] [$($a:ident),+]} [$($gen:tt)*] ($($p:ident: $pt:ty),+)) => {
        #[doc = $crate::machinery::methods::doc_forward!($face)]
        ///
        /// # Errors
        #[doc = concat!($crate::machinery::methods::doc_errors!($how), ".")]
        pub fn forward<$($gen)*>(&self, $($p: $pt),+) -> $crate::machinery::error::Result<::ndarray::ArrayD<T>> {
            $crate::machinery::methods::forward_body!(self $how [$($hp)*] ($($a),+))
        }

        #[doc = $crate::machinery::methods::doc_backward!($how [$($hp)*] [$($gdoc)?] ($($a),+))]
        ///
        /// # Errors
        #[doc = concat!($crate::machinery::methods::doc_errors!($how), "; also [`LossError::Shape`](crate::machinery::error::LossError::Shape) if")]
        /// `grad_output` does not have the result's shape.
        pub fn backward<$($gen)*>(
            &self,
            $($p: $pt,)+
            grad_output: ::ndarray::ArrayViewD<'_, T>,
        ) -> $crate::machinery::error::Result<$crate::machinery::methods::grads_type!($($g)?)> {
            $crate::machinery::methods::backward_body!(self $how [$($hp)*] ($($a),+) grad_output)
        }

        /// The loss and its gradients (of the result's sum when unreduced).
        ///
        /// # Errors
        #[doc = concat!($crate::machinery::methods::doc_errors!($how), ".")]
        pub fn forward_backward<$($gen)*>(
            &self,
            $($p: $pt),+
        ) -> $crate::machinery::error::Result<(::ndarray::ArrayD<T>, $crate::machinery::methods::grads_type!($($g)?))> {
            $crate::machinery::methods::forward_backward_body!(self $how [$($hp)*] ($($a),+))
        }

        $crate::machinery::methods::fused_extra!($how [$($hp)*] [$($gen)*] ($($p: $pt),+));

        #[doc = $crate::machinery::methods::doc_reduction!($face)]
        #[must_use]
        pub fn reduction(mut self, reduction: $crate::machinery::reduction::Reduction) -> Self {
            self.reduction = reduction;
            self
        }
    };
}

/// The gradients' type: the one given, [`Gradients`](crate::machinery::reduction::Gradients) by default.
macro_rules! grads_type {
    () => { $crate::machinery::reduction::Gradients<T> };
    ($g:ty) => { $g };
}

macro_rules! doc_forward {
    (torch) => { "The loss, reduced as `self.reduction` says." };
    (keras) => { "The per-sample losses (reduced as `self.reduction` says), in Keras's argument order." };
    (optax) => { "The per-example losses (reduced as `self.reduction` says), in optax's argument order." };
    (optax_elementwise) => { "The element-wise losses (reduced as `self.reduction` says), in optax's argument order." };
}

macro_rules! doc_reduction {
    (torch) => { "Sets the reduction." };
    (keras) => { "Sets the reduction of the per-sample losses (default `None`)." };
    (optax) => { "Sets the reduction of the per-example losses (default `None`)." };
    (optax_elementwise) => { "Sets the reduction of the element-wise losses (default `None`)." };
}

macro_rules! doc_errors {
    (fused) => {
        "[`LossError::Shape`](crate::machinery::error::LossError::Shape) if `target`'s shape is not `input`'s; \
         [`LossError::Option`](crate::machinery::error::LossError::Option) for an option out of its domain"
    };
    ($how:ident) => { "See the type's docs" };
}

macro_rules! doc_backward {
    ($how:ident [$($hp:tt)*] [$gdoc:literal] ($($a:ident),+)) => {
        concat!("The gradients of `Σ grad_output · loss` (`grad_output` has the result's shape): ", $gdoc, ".")
    };
    (run [input = first] [] ($a:ident, $b:ident)) => { $crate::machinery::methods::doc_backward!(pair $a $b) };
    (run [input = last] [] ($a:ident, $b:ident)) => { $crate::machinery::methods::doc_backward!(pair $b $a) };
    (pointwise [$($hp:tt)*] [] ($a:ident, $b:ident)) => { $crate::machinery::methods::doc_backward!(pair $a $b) };
    (fused [$($hp:tt)*] [] ($a:ident, $b:ident)) => { $crate::machinery::methods::doc_backward!(pair $a $b) };
    (run [input = only] [] ($a:ident, $b:ident)) => {
        "The gradient of `Σ grad_output · loss` (`grad_output` has the result's shape) with respect to \
         the float tensor, in `input` (`target`: `None`, the labels are integers)."
    };
    (pair $input:ident $target:ident) => {
        concat!(
            "The gradients of `Σ grad_output · loss` (`grad_output` has the result's shape): `input` w.r.t. `",
            stringify!($input), "`, `target` w.r.t. `", stringify!($target), "`."
        )
    };
}

macro_rules! forward_body {
    ($s:ident eval [] ($($a:ident),+)) => {
        Ok($s.eval($($a,)+ &$crate::machinery::lanes::Upstream::Skip)?.0)
    };
    ($s:ident run [$($hp:tt)*] ($($a:ident),+)) => {
        Ok($s.run($(&$a,)+ &$crate::machinery::lanes::Upstream::Skip)?.0)
    };
    ($s:ident pointwise [$name:expr] ($a:ident, $b:ident)) => {{
        $s.validate()?;
        let p = $crate::machinery::pointwise::Pointwise::from_broadcast($crate::machinery::broadcast::Broadcast::numpy($name, &[(stringify!($a), $a.shape()), (stringify!($b), $b.shape())])?, &$a, &$b);
        Ok(p.forward($s.reduction, |_, a, b| $s.value(a, b)))
    }};
    ($s:ident fused [$name:expr] ($a:ident, $b:ident)) => {{
        $s.validate()?;
        if let Some(f) = $crate::machinery::pointwise::Fused::same_shape_only(&$a, &$b) {
            return Ok(f.forward($s, $s.reduction));
        }
        let p = $crate::machinery::pointwise::Pointwise::broadcast($name, (stringify!($a), &$a), (stringify!($b), &$b))?;
        Ok(p.forward($s.reduction, |_, x, y| $s.value(x - y)))
    }};
}

macro_rules! backward_body {
    ($s:ident eval [] ($($a:ident),+) $go:ident) => {
        Ok($s.eval($($a,)+ &$crate::machinery::lanes::Upstream::Given($go))?.1.expect("gradients requested"))
    };
    ($s:ident run [$($hp:tt)*] ($a:ident, $b:ident) $go:ident) => {
        match $s.run(&$a, &$b, &$crate::machinery::lanes::Upstream::Given($go))?.1 {
            Some(g) => Ok($crate::machinery::methods::run_grads!([$($hp)*] g)),
            None => unreachable!("gradients are computed when grad_output is given"),
        }
    };
    ($s:ident pointwise [$name:expr] ($a:ident, $b:ident) $go:ident) => {{
        $s.validate()?;
        let p = $crate::machinery::pointwise::Pointwise::from_broadcast($crate::machinery::broadcast::Broadcast::numpy($name, &[(stringify!($a), $a.shape()), (stringify!($b), $b.shape())])?, &$a, &$b);
        p.backward($name, $s.reduction, &$go, true, |_, a, b| $s.derivative(a, b))
    }};
    ($s:ident fused [$name:expr] ($a:ident, $b:ident) $go:ident) => {{
        $s.validate()?;
        if let Some(f) = $crate::machinery::pointwise::Fused::same_shape_only(&$a, &$b) {
            if let Some(g) = f.backward($s, $name, $s.reduction, &$go)? {
                return Ok(g);
            }
        }
        let p = $crate::machinery::pointwise::Pointwise::broadcast($name, (stringify!($a), &$a), (stringify!($b), &$b))?;
        p.backward($name, $s.reduction, &$go, true, |_, x, y| {
            let g = $s.derivative(x - y);
            (g, -g)
        })
    }};
}

/// A `run` loss's gradients as [`Gradients`](crate::machinery::reduction::Gradients):
/// which of its two tensors is the input (`first`, `last`), or its one gradient (`only`).
macro_rules! run_grads {
    ([input = first] $g:ident) => {{
        let (ga, gb) = $g;
        $crate::machinery::reduction::Gradients { input: ga, target: Some(gb) }
    }};
    ([input = last] $g:ident) => {{
        let (ga, gb) = $g;
        $crate::machinery::reduction::Gradients { input: gb, target: Some(ga) }
    }};
    ([input = only] $g:ident) => {
        $crate::machinery::reduction::Gradients { input: $g, target: None }
    };
}

macro_rules! forward_backward_body {
    ($s:ident eval [] ($($a:ident),+)) => {{
        let (v, g) = $s.eval($($a,)+ &$crate::machinery::lanes::Upstream::Ones)?;
        Ok((v, g.expect("gradients requested")))
    }};
    ($s:ident fused [$name:expr] ($a:ident, $b:ident)) => {{
        $s.validate()?;
        if let Some(f) = $crate::machinery::pointwise::Fused::same_shape_only(&$a, &$b) {
            return Ok(f.forward_backward($s, $s.reduction));
        }
        let p = $crate::machinery::pointwise::Pointwise::broadcast($name, (stringify!($a), &$a), (stringify!($b), &$b))?;
        let value = p.forward($s.reduction, |_, x, y| $s.value(x - y));
        let g = p.unit_grad::<T>($s.reduction);
        let grads = p.backward($name, $s.reduction, &g.view(), true, |_, x, y| {
            let g = $s.derivative(x - y);
            (g, -g)
        })?;
        Ok((value, grads))
    }};
    // `run`: one pass with ones for the upstream gradient where the loss takes a
    // sweep that computes the value and the gradients together; its general
    // paths take a given upstream only, and give the value alone: the backward
    // pass with ones then.
    ($s:ident run [$($hp:tt)*] ($a:ident, $b:ident)) => {{
        let (value, grads) = $s.run(&$a, &$b, &$crate::machinery::lanes::Upstream::Ones)?;
        match grads {
            Some(g) => Ok((value, $crate::machinery::methods::run_grads!([$($hp)*] g))),
            None => {
                let ones = ::ndarray::ArrayD::from_elem(value.shape(), T::one());
                Ok((value, $s.backward($a, $b, ones.view())?))
            }
        }
    }};
    // `pointwise`, `composed`: the forward pass, then the backward pass with ones.
    ($s:ident $how:ident [$($hp:tt)*] ($($a:ident),+)) => {{
        let value = $s.forward($($a.view()),+)?;
        let ones = ::ndarray::ArrayD::from_elem(value.shape(), T::one());
        Ok((value, $s.backward($($a,)+ ones.view())?))
    }};
}

/// `forward_backward_into` of a `fused` loss; nothing for the others.
macro_rules! fused_extra {
    (fused [$name:expr] [$($gen:tt)*] ($a:ident: $at:ty, $b:ident: $bt:ty)) => {
        /// The loss, with its gradient with respect to `input` written into
        /// `grad` (that with respect to `target` is its negative): for
        /// contiguous tensors, one vectorised, multi-threaded sweep that reads
        /// each input once and writes each gradient once, allocating no buffer
        /// of the input's size (only the result, and its shape). Other layouts
        /// take the general path and copy the gradient in. Every element of
        /// `grad` is written: what it held before does not matter.
        ///
        /// # Errors
        /// As [`forward`](Self::forward), and [`LossError::Shape`](crate::machinery::error::LossError::Shape)
        /// if `grad` does not have the input's shape.
        ///
        /// # Examples
        /// ```
        /// use ndarray::{array, Array1};
        /// use losslab::MseLoss;
        /// let mut grad = Array1::<f32>::zeros(2);
        /// let loss = MseLoss::new().forward_backward_into(array![1.0f32, 3.0].view(), array![0.0, 0.0].view(), grad.view_mut()).unwrap();
        /// assert_eq!(loss[[]], 5.0);
        /// assert_eq!(grad, array![1.0, 3.0]);
        /// ```
        pub fn forward_backward_into<$($gen)*>(
            &self,
            $a: $at,
            $b: $bt,
            mut grad: ::ndarray::ArrayViewMut<'_, T, D>,
        ) -> $crate::machinery::error::Result<::ndarray::ArrayD<T>> {
            self.validate()?;
            $crate::machinery::error::same_shape($name, "input", $a.shape(), "grad", grad.shape())?;
            if let Some(f) = $crate::machinery::pointwise::Fused::same_shape_only(&$a, &$b) {
                if let Some(g) = grad.as_slice_mut() {
                    return Ok(f.forward_backward_into(self, self.reduction, g));
                }
            }
            let (value, g) = self.forward_backward($a, $b)?;
            grad.assign(&g.input.into_dimensionality::<D>().expect("the input's dimensionality"));
            Ok(value)
        }
    };
    ($how:ident [$($hp:tt)*] [$($gen:tt)*] ($($p:ident: $pt:ty),+)) => {};
}

/// Builder setters, each `#[must_use]`: `setters!(/// doc \n field: Type, …)`.
macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $t:ty),+ $(,)?) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $field(mut self, $field: $t) -> Self {
            self.$field = $field;
            self
        }
    )+};
}

/// A free function that evaluates a loss with its defaults (and options):
///
/// ```text
/// free_fn! {
///     /// [`KerasHinge`]: `keras.losses.hinge(y_true, y_pred)`, one value per sample.
///     pub fn keras_hinge(y_true: float, y_pred: float $(; option: Type)*) = KerasHinge {
///         /// # Examples …
///     }
/// }
/// ```
///
/// writes `pub fn keras_hinge<…>(y_true, y_pred, options…) -> Result<ArrayD<T>>`
/// as `KerasHinge::new()$(.option(option))*.forward(y_true, y_pred)`, documented
/// with the summary, `# Errors: See [`KerasHinge`].` and the further docs in
/// braces (`= KerasHinge;` when there are none). The arguments' kinds are
/// [`loss_methods!`]'s.
macro_rules! free_fn {
    ($(
        $(#[$head:meta])*
        pub fn $name:ident($($a:ident: $k:ident),+ $(; $($o:ident: $ot:ty),+)?) = $loss:ident $({ $(#[$tail:meta])* })? $(;)?
    )+) => {$(
        $crate::machinery::methods::signature!(free_fn_emit
            {[$(#[$head])*] [$($(#[$tail])*)?] $name $loss [$($a),+] [$($($o: $ot),+)?]} ($($a: $k),+));
    )+};
}

macro_rules! free_fn_emit {
    ({[$(#[$head:meta])*] [$(#[$tail:meta])*] $name:ident $loss:ident [$($a:ident),+] [$($o:ident: $ot:ty),*]} [$($gen:tt)*] ($($p:ident: $pt:ty),+)) => {
        $(#[$head])*
        ///
        /// # Errors
        #[doc = concat!("See [`", stringify!($loss), "`].")]
        $(#[$tail])*
        pub fn $name<$($gen)*>($($p: $pt,)+ $($o: $ot),*) -> $crate::machinery::error::Result<::ndarray::ArrayD<T>> {
            $loss::new()$(.$o($o))*.forward($($a),+)
        }
    };
}

/// A loss whose only option is its reduction, `None` by default (optax's own output).
macro_rules! simple_struct {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct $name {
            /// The reduction of the per-example losses (default `None`: optax's own output).
            pub reduction: Reduction,
        }

        impl Default for $name {
            fn default() -> Self {
                $name { reduction: Reduction::None }
            }
        }
    };
}

/// Writes a framework face: `name = family::function, Struct = family::Type;`
/// re-exports each loss of the family under the reference's own names, and
/// `NAMES` lists the function names, in the registry's spelling.
macro_rules! face {
    ($($name:ident = $fam:ident :: $f:ident $(, $st:ident = $sfam:ident :: $s:ident)? ;)*) => {
        $(
            #[doc(inline)]
            pub use $crate::$fam::$f as $name;
            $(
                #[doc(inline)]
                pub use $crate::$sfam::$s as $st;
            )?
        )*
        /// Every function name of this face: its framework's `NAME`s in the
        /// registry's `framework:NAME` (a test holds the two to the same set).
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

/// A loss option that is one of a fixed set of names (a GAN's `kind`, DPO's
/// `loss_type`): the enum, its `ALL`, `name()`, `Display`, and `FromStr` whose error
/// names the loss, the option and the choices. `default V` checks at compile time
/// that the variant the docs name as the default exists (mark it `#[default]`).
macro_rules! choice {
    ($(#[$doc:meta])* $name:ident, $loss:literal, $option:literal, { $($(#[$vdoc:meta])* $v:ident = $s:literal),+ $(,)? } $(, default $def:ident)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $($(#[$vdoc])* $v,)+
        }

        impl $name {
            /// Every choice, in the order the docs list them.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The choice's name, as the reference and the registry spell it.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$v => $s,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::LossError;
            fn from_str(s: &str) -> ::std::result::Result<Self, $crate::LossError> {
                $name::ALL.iter().copied().find(|k| k.name() == s).ok_or_else(|| $crate::LossError::Option {
                    loss: $loss,
                    option: $option,
                    value: s.to_string(),
                    expected: format!("one of {}", $name::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")),
                })
            }
        }
        $(const _: () = { let _ = $name::$def; };)?
    };
}

pub(crate) use {
    backward_body, choice, face, doc_backward, doc_errors, doc_forward, doc_reduction, forward_backward_body, forward_body, free_fn, free_fn_emit, run_grads,
    fused_extra, grads_type, loss_methods, loss_methods_emit, setters, signature, simple_struct,
};
