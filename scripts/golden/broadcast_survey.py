#!/usr/bin/env python3
"""Prints which TensorFlow / Keras (JAX) / optax losses broadcast their tensors, and the
shapes of the gradients they give (see README.md, "Broadcasting in TensorFlow, Keras and
optax"); writes no golden file (broadcast.py does).

    KERAS_BACKEND=jax ~/refenv/bin/python scripts/golden/broadcast_survey.py

A (4, 3) prediction against targets (4, 1), (1, 3), (3,), (4,), (), (2, 4, 3), (1,), and the
prediction (4, 1), (1, 3), (3,) against a (4, 3) target; jax.vjp w.r.t. both tensors (Keras,
optax), tf.GradientTape w.r.t. both (TensorFlow: the gradient of a broadcast
softmax_cross_entropy_with_logits raises when the labels are watched).
"""
import os
os.environ["KERAS_BACKEND"]="jax"; os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"; os.environ["JAX_PLATFORMS"]="cpu"
import numpy as np, jax; jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import tensorflow as tf, keras, optax
keras.config.set_floatx("float64")
rng=np.random.default_rng(0)
def arr(s, kind="u"):
    return rng.uniform(0.1,0.9,s) if kind=="u" else rng.standard_normal(s)
def tryvjp(name, f, a, b):
    try:
        out, vjp = jax.vjp(f, jnp.asarray(a), jnp.asarray(b))
        ga, gb = vjp(jnp.ones_like(out))
        print(f"{name}: OK out {out.shape} grads {ga.shape} {gb.shape}")
    except Exception as e:
        print(f"{name}: ERR {type(e).__name__}: {str(e).splitlines()[0][:140]}")
P=(4,3)
others=[(4,1),(1,3),(3,),(4,),(),(2,4,3),(1,),(4,3)]
K=keras.losses
kl=["binary_crossentropy","binary_focal_crossentropy","categorical_crossentropy","categorical_focal_crossentropy","kl_divergence","log_cosh","mean_squared_logarithmic_error","mean_absolute_percentage_error","poisson","hinge","squared_hinge","categorical_hinge","cosine_similarity","dice","tversky","huber","mean_squared_error","mean_absolute_error"]
for nm in kl:
    f=getattr(K,nm)
    for s in others[:-1]:
        tryvjp(f"keras.{nm} y_true {s} y_pred {P}", lambda t,p: f(t,p), arr(s), arr(P))
    for s in [(4,1),(1,3),(3,)]:
        tryvjp(f"keras.{nm} y_true {P} y_pred {s}", lambda t,p: f(t,p), arr(P), arr(s))
    tryvjp(f"keras.{nm} y_true (4,1) y_pred (1,3)", lambda t,p: f(t,p), arr((4,1)), arr((1,3)))
O=optax.losses
ol=[("huber_loss",O.huber_loss),("log_cosh",O.log_cosh),("kl_divergence",O.kl_divergence),("kl_divergence_with_log_targets",O.kl_divergence_with_log_targets),("generalized_kl_divergence",O.generalized_kl_divergence),("poly_loss_cross_entropy",O.poly_loss_cross_entropy),("safe_softmax_cross_entropy",O.safe_softmax_cross_entropy),("perceptron_loss",O.perceptron_loss),("binary_dice_loss",O.binary_dice_loss),("sparsemax_loss",lambda a,b: O.sparsemax_loss(a,b)),("softmax_cross_entropy",O.softmax_cross_entropy)]
for nm,f in ol:
    for s in others[:-1]:
        tryvjp(f"optax.{nm} pred {P} target {s}", f, arr(P), arr(s))
    for s in [(4,1),(1,3),(3,)]:
        tryvjp(f"optax.{nm} pred {s} target {P}", f, arr(s), arr(P))
    tryvjp(f"optax.{nm} pred (4,1) target (1,3)", f, arr((4,1)), arr((1,3)))
for s in [(1,3),(4,1),(3,),()]:
    for pos in range(3):
        sh=[P,P,P]; sh[pos]=s
        def f3(a,b,pos=pos,sh=sh):
            xs=[arr(x,"n") for x in sh]; xs[0]=a; xs[1]=b
            return O.triplet_margin_loss(*xs)
        try:
            xs=[jnp.asarray(arr(x,"n")) for x in sh]
            out,vjp=jax.vjp(lambda a,b,c: O.triplet_margin_loss(a,b,c), *xs)
            g=vjp(jnp.ones_like(out)); print(f"optax.triplet anchors/pos/neg {sh}: OK out {out.shape} grads {[x.shape for x in g]}")
        except Exception as e: print(f"optax.triplet {sh}: ERR {type(e).__name__}: {str(e).splitlines()[0][:140]}")
# dice_loss (predictions (B,...,C)), multiclass_generalized_dice
for nm in ["dice_loss","multiclass_generalized_dice_loss"]:
    f=getattr(O,nm)
    for s in [(1,3,4),(2,1,4),(2,3,1),(3,4)]:
        tryvjp(f"optax.{nm} pred (2,3,4) target {s}", f, arr((2,3,4),"n"), arr(s))
        tryvjp(f"optax.{nm} pred {s} target (2,3,4)", f, arr(s,"n"), arr((2,3,4)))
for s in [(1,3),(4,1),(3,)]:
    tryvjp(f"optax.ranking_softmax_loss logits {P} labels {s}", O.ranking_softmax_loss, arr(P,"n"), arr(s))
    tryvjp(f"optax.ranking_softmax_loss logits {s} labels {P}", O.ranking_softmax_loss, arr(s,"n"), arr(P))
    tryvjp(f"optax.smooth_labels {s}", lambda a,b: optax.smooth_labels(a,0.1)+0*b.sum(), arr(s), arr(()))
# TF
def tfgrad(name, f, a, b):
    try:
        a=tf.Variable(a); b=tf.Variable(b)
        with tf.GradientTape() as t:
            out=f(a,b)
        ga,gb=t.gradient(out,[a,b])
        print(f"{name}: OK out {tuple(out.shape)} grads {None if ga is None else tuple(ga.shape)} {None if gb is None else tuple(gb.shape)}")
    except Exception as e:
        print(f"{name}: ERR {type(e).__name__}: {str(e).splitlines()[0][:140]}")
for s in [(4,1),(1,3),(3,),(4,),(),(2,4,3)]:
    tfgrad(f"tf.softmax_ce labels {s} logits {P}", lambda l,x: tf.nn.softmax_cross_entropy_with_logits(labels=l, logits=x), arr(s), arr(P,"n"))
    tfgrad(f"tf.softmax_ce labels {P} logits {s}", lambda l,x: tf.nn.softmax_cross_entropy_with_logits(labels=l, logits=x), arr(P), arr(s,"n"))
for nm,f in [("sigmoid",lambda l,x: tf.nn.sigmoid_cross_entropy_with_logits(labels=l,logits=x)),("weighted",lambda l,x: tf.nn.weighted_cross_entropy_with_logits(l,x,2.0)),("log_poisson",lambda l,x: tf.nn.log_poisson_loss(l,x))]:
    for s in [(4,1),(1,3),()]:
        tfgrad(f"tf.{nm} labels {s} logits {P}", f, arr(s), arr(P,"n"))
        tfgrad(f"tf.{nm} labels {P} logits {s}", f, arr(P), arr(s,"n"))
for s in [(4,1),(1,3),(3,),(),(2,4,3)]:
    tfgrad(f"tf.weighted pos_weight {s}", lambda l,x,s=s: tf.nn.weighted_cross_entropy_with_logits(l,x,tf.constant(arr(s)+1)), arr(P), arr(P,"n"))
