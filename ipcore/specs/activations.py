"""The hidden units' names, without torch: what configs validate against and the pickers list.

``ipcore.engine.activations`` holds each unit's torch code and checks at import that it has exactly these.
"""

ACTIVATION_NAMES = ("tanh", "logistic", "relu")
"""The hidden units, in the order the pickers list them."""
NEURON_ACTIVATIONS = ("tanh", "logistic")
"""The single neuron's units: its output entropy and target density need a bounded output range."""
