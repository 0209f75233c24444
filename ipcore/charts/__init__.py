"""The lab's charts as plotly figures, without Streamlit: what the app's pages draw, importable from a notebook.

One module per subject (``base``: ``Plot``, colours and the shared readers; ``training``, ``layers``, ``neuron``,
``lab``, ``gallery``, ``sweep``, ``beyond``, ``home``). Each builder takes a record's metrics (a mapping of numpy
arrays, ``RunRecord.metrics``) and returns a ``plotly.graph_objects.Figure``; ``ipcore.api.Result.figure`` picks
the one the lab shows for a metric. Importing this package loads neither streamlit nor torch.
"""
