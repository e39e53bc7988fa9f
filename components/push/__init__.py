"""The push: TFX's Pusher that skips a model already pushed, and the TF Serving model config of the serving directory."""
