"""TF Serving's REST API on MLflow's own scoring server (``mlflow-tf1 serve``).

``tf_json`` holds TF Serving's JSON shapes (requests in, answers out),
``versions`` the served versions of one registered model, ``rest`` the
``/v1/...`` routes, and ``app`` mounts them on ``mlflow.pyfunc.scoring_server``'s
app, so ``/invocations``, ``/ping``, ``/health`` and ``/version`` stay MLflow's.
Predictions go through each version's pyfunc model, as ``/invocations`` does.
"""
