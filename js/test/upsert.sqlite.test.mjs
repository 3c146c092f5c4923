// upsertDataset against a real Phoenix on sqlite (skipped unless PU_TEST_BACKENDS names it).
import { backends } from "./phoenix.mjs";
import { suite } from "./upsert-suite.mjs";

if (backends.includes("sqlite")) suite("sqlite");
