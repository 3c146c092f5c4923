// upsertDataset against a real Phoenix on postgresql (skipped unless PU_TEST_BACKENDS names it).
import { backends } from "./phoenix.mjs";
import { suite } from "./upsert-suite.mjs";

if (backends.includes("postgresql")) suite("postgresql");
