"""VeriFrame on Dagster. Kept empty so `import veriframe_dagster.<module>` stays cheap."""
