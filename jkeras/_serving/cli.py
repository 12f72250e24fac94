"""``python -m jkeras.serve``: TF Serving's command line, for its REST API."""
import argparse
import logging
import threading


def parse_args(argv=None):
    """The command line, with TF Serving's flag names where they exist.

    >>> parse_args(["--model_base_path", "/models/mlp", "--model_name", "mlp"]).rest_api_port
    8501
    """
    parser = argparse.ArgumentParser(
        prog="python -m jkeras.serve",
        description="Serve a model base path (versions BASE/1, BASE/2, ... written by "
                    "jkeras.serve.save, or SavedModels when TensorFlow is installed) over "
                    "TensorFlow Serving's REST API.")
    parser.add_argument("--model_base_path", required=True,
                        help="directory holding one integer-named directory per version")
    parser.add_argument("--model_name", required=True, help="the NAME in /v1/models/NAME")
    parser.add_argument("--rest_api_port", type=int, default=8501)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: loopback only)")
    parser.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                        help="how often to look for a new version (0: never)")
    parser.add_argument("--enable_batching", action="store_true",
                        help="batch concurrent requests into one model call")
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--batch_timeout_micros", type=int, default=2000,
                        help="how long a request waits for others to batch with")
    return parser.parse_args(argv)


def main(argv=None):
    """Parses the command line, loads the latest version and serves until interrupted."""
    args = parse_args(argv)
    try:
        import uvicorn
    except ImportError as err:
        raise ImportError("the REST server needs Starlette and Uvicorn: pip install "
                          f"'jkeras[serve]'. ({err})") from None
    from .batching import Batcher
    from .repository import Repository
    from .rest import make_app

    log = logging.getLogger("jkeras.serve")
    log.setLevel(logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    log.addHandler(handler)
    repository = Repository(args.model_base_path, args.model_name)
    repository.refresh()
    stop = threading.Event()
    if args.file_system_poll_wait_seconds > 0:
        threading.Thread(target=repository.poll, daemon=True,
                         args=(args.file_system_poll_wait_seconds, stop)).start()
    batcher = Batcher(args.max_batch_size, args.batch_timeout_micros / 1e6) \
        if args.enable_batching else None
    try:
        uvicorn.run(make_app(repository, batcher), host=args.host, port=args.rest_api_port,
                    log_level="warning")
    finally:
        stop.set()
