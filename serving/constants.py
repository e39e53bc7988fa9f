"""What the server and its clients agree on: the default model name, gRPC message limits, the REST version header (the other modules both sides import are codecs: tensors.py, rest_json.py, errors.py)."""

# The served model's name, unless a config names another.
DEFAULT_MODEL_NAME = "coarse_ranker"

# Large requests are valid (10,000 candidates of long ids); TF Serving's own
# limit is 2 GB.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
# gRPC channel and server options both ends set.
GRPC_OPTIONS = (("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES))

# The REST response header naming the version that answered (TF Serving's
# REST API has no such field in its JSON).
VERSION_HEADER = "X-Model-Version"
