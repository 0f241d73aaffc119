export { pipelineWorkflow, stagesQuery } from './pipeline';
