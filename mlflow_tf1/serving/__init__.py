"""TF Serving's REST and gRPC APIs on MLflow's own scoring server (``mlflow-tf1 serve``).

``calls`` holds TF Serving's predict, classify and regress on a pyfunc model (shared
by REST, gRPC and warm-up replay), ``tf_json`` its REST JSON shapes, ``versions``
the served versions of one registered model, ``rest`` the ``/v1/...`` routes,
``app`` mounts them on ``mlflow.pyfunc.scoring_server``'s app (so ``/invocations``,
``/ping``, ``/health`` and ``/version`` stay MLflow's), and ``grpc_service`` serves
PredictionService and ModelService with tensorflow-serving-api's definitions.
Predictions go through each version's pyfunc model, as ``/invocations`` does.
"""
