"""The app's tabs, one module each; app.py assembles them."""
