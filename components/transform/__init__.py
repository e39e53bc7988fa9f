"""TFX's Transform, its executor applying the Beam data-plane mend before it runs Beam."""
