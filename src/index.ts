import * as core from '@actions/core';
import * as k8s from '@kubernetes/client-node';
import { hello } from './a.js';
core.info(hello(String(typeof k8s.KubeConfig)));
