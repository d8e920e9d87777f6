#!/usr/bin/env python3
"""Prints which TensorFlow / Keras (JAX) / optax losses broadcast their targets (see README.md).

    KERAS_BACKEND=jax ~/refenv/bin/python scripts/golden/broadcast_survey.py
"""
import os
os.environ["KERAS_BACKEND"]="jax"; os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np, jax; jax.config.update("jax_enable_x64", True)
import tensorflow as tf, keras, optax
def tryit(name, f):
    try:
        r=f(); print(f"{name}: OK shape {np.shape(r)}")
    except Exception as e: print(f"{name}: ERR {type(e).__name__}: {str(e).splitlines()[0][:150]}")
x=np.random.randn(4,3); t1=np.random.rand(4,1); t=np.random.rand(4,3); r=np.random.rand(1,3)
for nm,f in [("sigmoid_ce",tf.nn.sigmoid_cross_entropy_with_logits),("weighted_ce",lambda labels,logits: tf.nn.weighted_cross_entropy_with_logits(labels,logits,2.0)),("log_poisson",lambda labels,logits: tf.nn.log_poisson_loss(labels,logits))]:
    tryit(f"tf.{nm} labels (4,1) vs logits (4,3)", lambda: f(labels=t1, logits=x))
    tryit(f"tf.{nm} labels (1,3) vs logits (4,3)", lambda: f(labels=r, logits=x))
tryit("tf.softmax_ce labels (1,3)", lambda: tf.nn.softmax_cross_entropy_with_logits(labels=r/r.sum(), logits=x))
tryit("tf.weighted_ce pos_weight (3,)", lambda: tf.nn.weighted_cross_entropy_with_logits(t, x, np.array([1.,2.,3.])))
L=keras.losses
for nm in ["binary_crossentropy","binary_focal_crossentropy","categorical_crossentropy","categorical_focal_crossentropy","kl_divergence","log_cosh","mean_squared_logarithmic_error","mean_absolute_percentage_error","poisson","hinge","squared_hinge","categorical_hinge","cosine_similarity","dice","tversky","categorical_generalized_cross_entropy"]:
    f=getattr(L,nm,None)
    if f is None: print(nm, "missing"); continue
    yp=np.random.rand(4,3)*0.9+0.05
    tryit(f"keras.{nm} y_true (4,1) vs y_pred (4,3)", lambda: f(t1, yp))
    tryit(f"keras.{nm} y_true (1,3) vs y_pred (4,3)", lambda: f(r, yp))
    tryit(f"keras.{nm} y_true (4,) vs y_pred (4,3)", lambda: f(t1[:,0], yp))
O=optax.losses
for nm,f in [("huber_loss",lambda a,b: O.huber_loss(a,b)),("log_cosh",lambda a,b: O.log_cosh(a,b)),("kl_divergence",lambda a,b: O.kl_divergence(a,b)),("kl_divergence_with_log_targets",O.kl_divergence_with_log_targets),("generalized_kl_divergence",lambda a,b: O.generalized_kl_divergence(a,b) if hasattr(O,'generalized_kl_divergence') else None),("poly_loss_cross_entropy",lambda a,b: O.poly_loss_cross_entropy(a,b)),("safe_softmax_cross_entropy",O.safe_softmax_cross_entropy),("perceptron_loss",lambda a,b: O.perceptron_loss(a,b)),("sparsemax_loss",None)]:
    if f is None: continue
    yp=np.random.rand(4,3)
    tryit(f"optax.{nm} (4,3) vs (1,3)", lambda: f(yp, r))
    tryit(f"optax.{nm} (4,3) vs (4,1)", lambda: f(yp, t1))
tryit("optax.triplet_margin_loss (4,3),(1,3),(4,3)", lambda: O.triplet_margin_loss(x, r, x))
