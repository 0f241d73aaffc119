import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes that let the Web UI and `temporal workflow list --query` filter runs. */
export const PIPELINE_ATTRIBUTE = defineSearchAttributeKey('RetrainPipeline', SearchAttributeType.KEYWORD);
export const DATASET_ATTRIBUTE = defineSearchAttributeKey('RetrainDataset', SearchAttributeType.KEYWORD);
export const BASE_MODEL_ATTRIBUTE = defineSearchAttributeKey('RetrainBaseModel', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [PIPELINE_ATTRIBUTE, DATASET_ATTRIBUTE, BASE_MODEL_ATTRIBUTE];

/** `--search-attribute` flags for `temporal server start-dev`, which registers them at start. */
export function devServerSearchAttributeFlags(): string[] {
  return SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]);
}
